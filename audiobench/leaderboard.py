"""Leaderboards over result files: the board (encoders x task protocols) and its view.

``collect`` reads result files (and reference files of published numbers) into ``Entry``
objects; ``build_leaderboard`` arranges them as rows (encoder + non-default settings) x columns
(protocol id), with the best measured score per column, deltas to a baseline and an exact
McNemar test where both results kept their per-clip predictions. ``audiobench.formats`` turns
the board into one view (text cells with a style each) that every format renders.

Two scores are only ranked together when they come from the same protocol id *and* the same
manifest (the exact list of clips and folds): otherwise an accuracy difference can be a data
difference. ``force=True`` ranks mixed manifests together and marks the column.

Reference rows are never measured results: shown only on request, never highlighted as best,
never a baseline, never used by the gate.

(Longer than most modules: the entries, the rules that place them (columns per manifest,
newest wins, best, baseline deltas) and the board are one algorithm, read top to bottom.)
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Hashable, Iterable, Mapping, Sequence

from audiobench.errors import ConfigError, ResultsError
from audiobench.results import ReferenceRow, Result, Scores, is_reference, load_reference, parse_result, read_json
from audiobench.stats import PairedTest, fold_mean, fold_std, paired_test

DEFAULT_PROBE = "logistic"
DEFAULT_POOLING = "masked-mean"
#: Scores closer than this (as fractions) are ties: both are highlighted as best.
TIE = 1e-9
DAGGER = "\u2020"


@dataclass(frozen=True)
class Entry:
    """One score: a measured result file (``result``), or one row of a reference file
    (``reference``, with the file's ``label`` and ``source`` citation)."""

    path: Path
    result: Result | None = None
    reference: ReferenceRow | None = None
    label: str = ""
    source: str | None = None

    @property
    def kind(self) -> str:
        return self.result.kind if self.result is not None else "reported"

    @property
    def measured(self) -> bool:
        return self.kind == "measured"

    @property
    def encoder(self) -> str:
        return self.result.encoder.name if self.result is not None else self.reference.encoder

    @property
    def protocol_id(self) -> str:
        return self.result.task.protocol_id if self.result is not None else self.reference.protocol_id

    @property
    def manifest_sha256(self) -> str | None:
        return self.result.task.manifest_sha256 if self.result is not None else None

    @property
    def mean(self) -> float:
        return self.result.scores.mean if self.result is not None else self.reference.accuracy

    @property
    def std(self) -> float | None:
        return self.result.scores.std if self.result is not None else self.reference.std

    @property
    def n_folds(self) -> int:
        return len(self.result.scores.per_fold) if self.result is not None else 1

    @property
    def created(self) -> str:
        return self.result.created.isoformat() if self.result is not None else ""

    @property
    def layer(self) -> int | None:
        return self.result.layer if self.result is not None else None

    @property
    def variant(self) -> tuple[str, ...]:
        if self.result is None:
            return ()
        r = self.result
        if r.layer_curve:  # --layer all: the layer differs per task; the row is "best layer"
            return ("best layer", *variant_parts(r.encoder.random_init, None, None, r.pooling, r.probe.name,
                                                 trimmed_window(r)))
        return variant_parts(r.encoder.random_init, r.layer, r.encoder.num_layers, r.pooling, r.probe.name,
                             trimmed_window(r))

    @property
    def row(self) -> str:
        """Leaderboard row label: the encoder plus every non-default setting, so results of
        one encoder under different layers, poolings or probes never share a row."""
        text = self.encoder + (f" ({', '.join(self.variant)})" if self.variant else "")
        return text if self.measured else f"{text} ({self.label or self.kind})"

    @property
    def curve(self) -> str:
        """The row label without the layer: one line of a layer curve."""
        r = self.result
        parts = (variant_parts(r.encoder.random_init, None, None, r.pooling, r.probe.name, trimmed_window(r))
                 if r else ())
        return self.encoder + (f" ({', '.join(parts)})" if parts else "")


def trimmed_window(result: Result) -> str | None:
    """``trim<multiple> window`` for results encoded under ``--window trim``, else None."""
    extraction = result.extraction
    return f"trim{extraction.trim_multiple or ''} window" if extraction.window == "trim" else None


def variant_parts(random_init: bool, layer: int | None, num_layers: int | None, pooling: str | None,
                  probe: str | None, window: str | None = None) -> tuple[str, ...]:
    """The settings that differ from the defaults (full window, last layer, masked mean,
    logistic probe)."""
    parts = []
    if random_init:
        parts.append("random-init")
    if window:
        parts.append(window)
    if layer is not None and (num_layers is None or layer != num_layers - 1):
        parts.append(f"L{layer}")
    if pooling and pooling != DEFAULT_POOLING:
        parts.append(pooling)
    if probe and probe != DEFAULT_PROBE:
        parts.append(f"{probe} probe")
    return tuple(parts)


def at_layer(entries: Sequence[Entry], layer: int) -> list[Entry]:
    """The fixed-layer view: every measured result at ``layer``; a ``--layer all`` result
    contributes its curve's point there (test scores only: it kept per-clip predictions for
    its best layer alone, so no paired test). Reference rows pass unchanged."""
    view = []
    for entry in entries:
        r = entry.result
        if r is None or (r.layer == layer and not r.layer_curve):
            view.append(entry)
            continue
        point = next((p for p in r.layer_curve if p.layer == layer), None)
        if point is not None:
            scores = Scores(per_fold=point.per_fold, mean=fold_mean(list(point.per_fold.values())),
                            std=fold_std(list(point.per_fold.values())))
            view.append(replace(entry, result=r.model_copy(
                update={"layer": layer, "scores": scores, "predictions": {}, "layer_curve": []})))
    return view


@dataclass(frozen=True)
class Skipped:
    """A file that was not read, and why (the CLI warns about each one)."""

    path: Path
    reason: str


@dataclass
class Collection:
    entries: list[Entry] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def measured(self) -> list[Entry]:
        return [e for e in self.entries if e.measured]

    @property
    def reported(self) -> list[Entry]:
        return [e for e in self.entries if not e.measured]


# ----------------------------------------------------------------------------- loading


def collect(inputs: Sequence[Path]) -> Collection:
    """Read every ``*.json`` under ``inputs`` (directories recursively, files as given).

    Invalid or foreign files land in ``skipped`` with the reason (file and field) instead of
    aborting, so one bad file does not hide a whole leaderboard; a path that does not exist is
    an error.
    """
    collection = Collection()
    for path in _json_files(inputs):
        try:
            collection.entries.extend(entries_from_file(path))
        except ResultsError as err:
            collection.skipped.append(Skipped(path, str(err)))
    return collection


def _json_files(inputs: Sequence[Path]) -> list[Path]:
    files: list[Path] = []
    for given in inputs:
        path = Path(given)
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*.json") if p.is_file()))
        elif path.is_file():
            files.append(path)
        else:
            raise ResultsError(f"{path}: no such file or directory", "pass result files or directories that hold them")
    unique: dict[Path, Path] = {}
    for path in files:  # a file named directly and again through its directory counts once
        unique.setdefault(path.resolve(), path)
    return list(unique.values())


def entries_from_file(path: Path) -> list[Entry]:
    """The entries of one result file (one entry) or reference file (one per row)."""
    data = read_json(path)
    if is_reference(data):
        reference = load_reference(path, data)
        return [Entry(Path(path), reference=row, label=reference.label, source=reference.source.text)
                for row in reference.rows]
    return [Entry(Path(path), result=parse_result(data, path))]


def latest(entries: Iterable[Entry], key_fn: Callable[[Entry], Hashable]) -> tuple[dict[Any, Entry], list[str]]:
    """Keep the newest entry (by ``created``) per key; describe every collision for a warning."""
    kept: dict[Any, Entry] = {}
    notes: list[str] = []
    for entry in entries:
        key = key_fn(entry)
        other = kept.get(key)
        if other is None:
            kept[key] = entry
            continue
        # On equal times the file read later wins, so the choice is at least deterministic.
        newer, older = (other, entry) if other.created > entry.created else (entry, other)
        kept[key] = newer
        notes.append(f"{entry.row} on {entry.protocol_id}: both {older.path} and {newer.path}; "
                     f"keeping {newer.path} (created {newer.created or 'unknown'})")
    return kept, notes


def entries_paired_test(baseline: Entry, other: Entry) -> PairedTest | None:
    """None unless both kept predictions on the same manifest."""
    if baseline.result is None or other.result is None:
        return None
    if not (baseline.result.predictions and other.result.predictions):
        return None
    if baseline.manifest_sha256 != other.manifest_sha256:
        return None
    return paired_test(_blocks(baseline.result), _blocks(other.result))


def _blocks(result: Result) -> dict[str, dict[str, list]]:
    return {fold: block.model_dump() for fold, block in result.predictions.items()}


# ----------------------------------------------------------------------------- the board


@dataclass(frozen=True)
class Column:
    """One leaderboard column: a protocol id, split per manifest unless ``force`` merged them."""

    key: str
    protocol_id: str
    manifests: tuple[str, ...] = ()

    @property
    def mixed(self) -> bool:
        return len(self.manifests) > 1

    @property
    def title(self) -> str:
        return self.key + (DAGGER if self.mixed else "")


@dataclass(frozen=True)
class Delta:
    points: float
    test: PairedTest | None = None


@dataclass(frozen=True)
class Cell:
    entry: Entry
    best: bool = False
    delta: Delta | None = None


@dataclass
class Leaderboard:
    rows: list[str]
    columns: list[Column]
    cells: dict[tuple[str, str], Cell]
    baseline: str | None = None
    reported_rows: frozenset[str] = frozenset()
    #: Things the reader should be told (collisions, split columns, unmatched reference rows).
    notes: list[str] = field(default_factory=list)

    def cell(self, row: str, column: Column) -> Cell | None:
        return self.cells.get((row, column.key))

    def footnotes(self) -> list[str]:
        """Lines that belong under the table in every format."""
        lines = []
        if self.baseline:
            lines.append(f"Deltas are accuracy points against the baseline {self.baseline}; p is a paired test on "
                         "the test clips both results predicted (exact McNemar for one split, a permutation test "
                         "stratified by fold for k folds); n.s.: not significant at 0.05. [a, b]: 95% bootstrap "
                         "interval over test clips.")
        elif any(cell.delta for cell in self.cells.values()):
            lines.append("Deltas are accuracy points against the published number of the same encoder "
                         "(its reference row).")
        for column in self.columns:
            if column.mixed:
                hashes = ", ".join(m[:12] for m in column.manifests)
                lines.append(f"{DAGGER} {column.key}: results on {len(column.manifests)} different manifests "
                             f"({hashes}) ranked together because of --force; differences may be data.")
        windows = {c.entry.result.extraction.window for c in self.cells.values() if c.entry.result is not None}
        if windows == {"full", "trim"}:
            lines.append("Rows marked 'trim… window' encoded only the positions covering each clip (--window "
                         "trim); they are ranked beside full-window rows here, but trimming changes the numbers: "
                         "compare them with that in mind.")
        reported = [c.entry for c in self.cells.values() if not c.entry.measured]
        if reported:
            marks = "/".join(f"({label})" for label in sorted({e.label or e.kind for e in reported}))
            sources = sorted({e.source for e in reported if e.source})
            lines.append(f"Rows marked {marks} are published numbers, not measured by audiobench, and are never "
                         "ranked" + (f": {'; '.join(sources)}." if sources else "."))
        return lines


# ----------------------------------------------------------------------------- building


def build_leaderboard(entries: Sequence[Entry], baseline: str | None = None, force: bool = False,
                      with_reference: bool = False, protocols: Sequence[str] | None = None,
                      reference_deltas: bool = False) -> Leaderboard:
    """Arrange entries as rows (encoder + variant) x columns (protocol id [+ manifest]).

    ``protocols`` fixes the columns (a suite's: those protocol ids in that order, even where
    only reference rows exist); ``reference_deltas`` gives each measured cell, when no baseline
    is set, its difference to the reference row of the same encoder in its column."""
    measured = [e for e in entries if e.measured]
    if not measured:
        raise ResultsError("no measured results to compare", "run `audiobench run` first or pass the results directory")
    columns, column_of, notes = _columns(measured, force, protocols)
    kept, collisions = latest(measured, lambda e: (e.row, column_of(e)))
    notes += collisions
    cells = {key: Cell(entry) for key, entry in kept.items()}

    reported_rows: set[str] = set()
    if with_reference:
        # A protocol split per manifest has no single column a reference row could sit in.
        by_protocol = {c.protocol_id: c.key for c in columns if c.key == c.protocol_id}
        matched = [e for e in entries if not e.measured and e.protocol_id in by_protocol]
        unmatched = sorted({e.protocol_id for e in entries if not e.measured} - set(by_protocol))
        if unmatched:
            notes.append(f"reference rows for {', '.join(unmatched)} not shown: no single column of "
                         "measured results on that protocol")
        kept_reported, collisions = latest(matched, lambda e: (e.row, by_protocol[e.protocol_id]))
        notes += collisions
        cells.update({key: Cell(entry) for key, entry in kept_reported.items()})
        reported_rows = {e.row for e in kept_reported.values()}

    rows = sorted({row for row, _ in cells}, key=lambda r: _row_order(r, cells))
    measured_rows = [r for r in rows if r not in reported_rows]
    baseline_row = resolve_baseline(baseline, measured_rows, measured) if baseline else None
    board = Leaderboard(rows, columns, cells, baseline_row, frozenset(reported_rows), notes)
    _mark_best(board)
    if baseline_row:
        _add_deltas(board)
    elif reference_deltas:
        _add_reference_deltas(board)
    return board


def _columns(measured: Sequence[Entry], force: bool, protocols: Sequence[str] | None = None):
    """Columns, a function entry -> column key, and notes about protocols split by manifest."""
    manifests: dict[str, Counter] = defaultdict(Counter)
    for e in measured:
        manifests[e.protocol_id][e.manifest_sha256 or "unknown"] += 1
    columns, notes = [], []
    split: set[str] = set()
    for pid in sorted(manifests) if protocols is None else protocols:
        hashes = tuple(sorted(manifests[pid]))
        if len(hashes) <= 1 or force:  # none: a fixed column that only reference rows fill
            columns.append(Column(pid, pid, hashes))
            continue
        split.add(pid)
        columns.extend(Column(f"{pid} @{h[:8]}", pid, (h,)) for h in hashes)
        notes.append(f"{pid}: results on {len(hashes)} different manifests are shown as separate columns and "
                     "not ranked together (pass --force to rank them in one marked column)")

    def column_of(entry: Entry) -> str:
        if entry.protocol_id in split:
            return f"{entry.protocol_id} @{(entry.manifest_sha256 or 'unknown')[:8]}"
        return entry.protocol_id

    return columns, column_of, notes


def _row_order(row: str, cells: Mapping[tuple[str, str], Cell]) -> tuple:
    # A reference row sits right under the measured rows of its encoder; L8 sorts before L16.
    entry = next(c.entry for (r, _), c in cells.items() if r == row)
    natural = tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", row))
    return (entry.encoder, not entry.measured, natural)


def resolve_baseline(name: str, rows: Sequence[str], measured: Sequence[Entry]) -> str:
    """The row ``name`` refers to: an exact row label, or an encoder name with one row."""
    if name in rows:
        return name
    candidates = sorted({e.row for e in measured if e.encoder == name and e.row in rows})
    if len(candidates) == 1:
        return candidates[0]
    if candidates:
        raise ConfigError(f"baseline {name!r} matches several rows: {', '.join(candidates)}",
                          "pass the full row label in quotes")
    encoders = sorted({e.encoder for e in measured})
    raise ConfigError(f"baseline {name!r} is not in the results; encoders present: {', '.join(encoders)}",
                      "pass one of them to --baseline")


def _mark_best(board: Leaderboard) -> None:
    for column in board.columns:
        scores = {row: cell.entry.mean for row in board.rows
                  if (cell := board.cell(row, column)) is not None and cell.entry.measured}
        if not scores:
            continue
        top = max(scores.values())
        for row, mean in scores.items():
            if top - mean <= TIE:
                key = (row, column.key)
                board.cells[key] = Cell(board.cells[key].entry, best=True, delta=board.cells[key].delta)


def _add_reference_deltas(board: Leaderboard) -> None:
    """Measured minus published, per column, for encoders that have a reference row there."""
    for column in board.columns:
        published = {cell.entry.encoder: cell.entry for row in board.reported_rows
                     if (cell := board.cell(row, column)) is not None}
        for row in board.rows:
            cell = board.cell(row, column)
            if cell is None or not cell.entry.measured or cell.entry.encoder not in published:
                continue
            delta = Delta((cell.entry.mean - published[cell.entry.encoder].mean) * 100)
            board.cells[(row, column.key)] = Cell(cell.entry, cell.best, delta)


def _add_deltas(board: Leaderboard) -> None:
    for column in board.columns:
        base = board.cell(board.baseline, column)
        if base is None:
            continue
        for row in board.rows:
            cell = board.cell(row, column)
            if cell is None or row == board.baseline or not cell.entry.measured:
                continue
            delta = Delta((cell.entry.mean - base.entry.mean) * 100, entries_paired_test(base.entry, cell.entry))
            board.cells[(row, column.key)] = Cell(cell.entry, cell.best, delta)
