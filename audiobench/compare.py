"""Leaderboards and regression gates over result files.

``collect`` reads result files (and reference files of published numbers) into ``Entry``
objects; ``build_leaderboard`` arranges them as encoders x task protocols, with the best
measured score per column, deltas to a baseline and an exact McNemar test where both results
kept their per-clip predictions; ``check_regressions`` compares two sets of results for a CI
gate. The library returns data and text; the CLI prints.

Two scores are only ranked together when they come from the same protocol id *and* the same
manifest (the exact list of clips and folds): otherwise an accuracy difference can be a data
difference. ``force=True`` ranks mixed manifests together and marks the column.

Reference files (``results.ReferenceFile``) hold numbers copied from papers. They are never
measured results: they are shown only on request, never highlighted as best, never a baseline,
never used by the gate.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Hashable, Iterable, Mapping, Sequence

from audiobench.errors import ConfigError, ResultsError
from audiobench.results import ReferenceFile, Result, is_reference, load_reference, parse_result, read_json

DEFAULT_PROBE = "logistic"
DEFAULT_POOLING = "masked-mean"
#: Scores closer than this (as fractions) are ties: both are highlighted as best.
TIE = 1e-9
DAGGER = "\u2020"


@dataclass(frozen=True)
class Entry:
    """One score: a measured result file, or one row of a reference file (``kind="reported"``)."""

    path: Path
    kind: str
    encoder: str
    variant: tuple[str, ...]
    protocol_id: str
    manifest_sha256: str | None
    mean: float
    std: float | None
    n_folds: int
    created: str = ""
    layer: int | None = None
    random_init: bool = False
    probe: str | None = None
    pooling: str | None = None
    predictions: Mapping[str, Mapping[str, list]] | None = None
    timing: Mapping[str, Any] | None = None
    device: str | None = None
    label: str = ""
    source: str | None = None

    @property
    def measured(self) -> bool:
        return self.kind == "measured"

    @property
    def row(self) -> str:
        """Leaderboard row label: the encoder plus every non-default setting, so results of
        one encoder under different layers, poolings or probes never share a row."""
        text = self.encoder + (f" ({', '.join(self.variant)})" if self.variant else "")
        return text if self.measured else f"{text} ({self.label or self.kind})"

    @property
    def curve(self) -> str:
        """The row label without the layer: one line of a layer curve."""
        parts = variant_parts(self.random_init, None, None, self.pooling, self.probe)
        return self.encoder + (f" ({', '.join(parts)})" if parts else "")


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

    Corrupt or foreign files land in ``skipped`` with the reason instead of aborting, so one
    bad file does not hide a whole leaderboard; a path that does not exist is an error.
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
        return reported_entries(load_reference(path, data), path)
    return [measured_entry(parse_result(data, path), path)]


def measured_entry(result: Result, path: Path) -> Entry:
    return Entry(
        path=Path(path), kind=result.kind, encoder=result.encoder.name, variant=_variant(result),
        protocol_id=result.task.protocol_id, manifest_sha256=result.task.manifest_sha256,
        mean=result.scores.mean, std=result.scores.std, n_folds=len(result.scores.per_fold),
        created=result.created.isoformat(), layer=result.layer, random_init=result.encoder.random_init,
        probe=result.probe.name, pooling=result.pooling,
        predictions={fold: block.model_dump() for fold, block in result.predictions.items()} or None,
        timing=result.timing.model_dump(), device=result.env.device,
        label="reported" if result.kind == "reported" else "")


def _variant(result: Result) -> tuple[str, ...]:
    return variant_parts(result.encoder.random_init, result.layer, result.encoder.num_layers, result.pooling,
                         result.probe.name)


def variant_parts(random_init: bool, layer: int | None, num_layers: int | None, pooling: str | None,
                  probe: str | None) -> tuple[str, ...]:
    """The settings that differ from the defaults (last layer, masked mean, logistic probe)."""
    parts = []
    if random_init:
        parts.append("random-init")
    if layer is not None and (num_layers is None or layer != num_layers - 1):
        parts.append(f"L{layer}")
    if pooling and pooling != DEFAULT_POOLING:
        parts.append(pooling)
    if probe and probe != DEFAULT_PROBE:
        parts.append(f"{probe} probe")
    return tuple(parts)


def reported_entries(reference: ReferenceFile, path: Path) -> list[Entry]:
    citation = reference.source.citation
    return [Entry(path=Path(path), kind="reported", encoder=row.encoder, variant=(), protocol_id=row.protocol_id,
                  manifest_sha256=None, mean=row.accuracy, std=row.std, n_folds=1, label=reference.label,
                  source=citation)
            for row in reference.rows]


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


# ----------------------------------------------------------------------------- paired test


@dataclass(frozen=True)
class PairedTest:
    """Exact McNemar test on test clips both results predicted, matched by (fold, clip id)."""

    n_items: int
    baseline_only: int  # clips the baseline got right and the other row got wrong
    other_only: int     # clips the other row got right and the baseline got wrong
    p_value: float


def mcnemar_exact(baseline_only: int, other_only: int) -> float:
    """Two-sided exact McNemar p-value: under "no difference" the discordant clips split 50/50."""
    from scipy.stats import binomtest  # scipy is slow to import; only comparisons need it

    discordant = baseline_only + other_only
    if discordant == 0:
        return 1.0
    return float(binomtest(min(baseline_only, other_only), discordant, 0.5).pvalue)


def paired_test(baseline: Entry, other: Entry) -> PairedTest | None:
    """None unless both kept predictions on the same manifest and share at least one clip."""
    if not (baseline.predictions and other.predictions):
        return None
    if baseline.manifest_sha256 is None or baseline.manifest_sha256 != other.manifest_sha256:
        return None
    base, oth = _correctness(baseline.predictions), _correctness(other.predictions)
    common = base.keys() & oth.keys()
    if not common:
        return None
    baseline_only = sum(1 for k in common if base[k] and not oth[k])
    other_only = sum(1 for k in common if oth[k] and not base[k])
    return PairedTest(len(common), baseline_only, other_only, mcnemar_exact(baseline_only, other_only))


def _correctness(predictions: Mapping[str, Mapping[str, list]]) -> dict[tuple[str, str], bool]:
    return {(str(fold), str(clip)): truth == guess
            for fold, block in predictions.items()
            for clip, truth, guess in zip(block["ids"], block["y_true"], block["y_pred"])}


# ----------------------------------------------------------------------------- leaderboard


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
            lines.append(f"Deltas are accuracy points against the baseline {self.baseline}; p is an exact "
                         "McNemar test on the test clips both results predicted.")
        for column in self.columns:
            if column.mixed:
                hashes = ", ".join(m[:12] for m in column.manifests)
                lines.append(f"{DAGGER} {column.key}: results on {len(column.manifests)} different manifests "
                             f"({hashes}) ranked together because of --force; differences may be data.")
        reported = [c.entry for c in self.cells.values() if not c.entry.measured]
        if reported:
            marks = "/".join(f"({label})" for label in sorted({e.label or e.kind for e in reported}))
            sources = sorted({e.source for e in reported if e.source})
            lines.append(f"Rows marked {marks} are published numbers, not measured by audiobench, and are never "
                         "ranked" + (f": {'; '.join(sources)}." if sources else "."))
        return lines

    def records(self) -> list[dict[str, Any]]:
        """One flat dict per cell (accuracy in percent), for CSV and JSON."""
        out = []
        for row in self.rows:
            for column in self.columns:
                cell = self.cell(row, column)
                if cell is None:
                    continue
                e, test = cell.entry, cell.delta.test if cell.delta else None
                out.append({
                    "row": row, "encoder": e.encoder, "kind": e.kind, "protocol_id": e.protocol_id,
                    "column": column.key, "mean": round(e.mean * 100, 4),
                    "std": None if e.std is None else round(e.std * 100, 4), "n_folds": e.n_folds,
                    "best": cell.best, "baseline": row == self.baseline,
                    "delta": round(cell.delta.points, 4) if cell.delta else None,
                    "p_value": test.p_value if test else None, "paired_clips": test.n_items if test else None,
                    "manifest_sha256": e.manifest_sha256, "mixed_manifests": column.mixed,
                    "layer": e.layer, "probe": e.probe, "pooling": e.pooling,
                    "source": e.source if e.source else str(e.path)})
        return out


def build_leaderboard(entries: Sequence[Entry], baseline: str | None = None, force: bool = False,
                      with_reference: bool = False) -> Leaderboard:
    """Arrange entries as rows (encoder + variant) x columns (protocol id [+ manifest])."""
    measured = [e for e in entries if e.measured]
    if not measured:
        raise ResultsError("no measured results to compare", "run `audiobench run` first or pass the results directory")
    columns, column_of, notes = _columns(measured, force)
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
    baseline_row = resolve_baseline(baseline, [r for r in rows if r not in reported_rows], measured) if baseline else None
    board = Leaderboard(rows, columns, cells, baseline_row, frozenset(reported_rows), notes)
    _mark_best(board)
    if baseline_row:
        _add_deltas(board)
    return board


def _columns(measured: Sequence[Entry], force: bool):
    """Columns, a function entry -> column key, and notes about protocols split by manifest."""
    manifests: dict[str, Counter] = defaultdict(Counter)
    for e in measured:
        manifests[e.protocol_id][e.manifest_sha256 or "unknown"] += 1
    columns, notes = [], []
    split: set[str] = set()
    for pid in sorted(manifests):
        hashes = tuple(sorted(manifests[pid]))
        if len(hashes) == 1 or force:
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


def _add_deltas(board: Leaderboard) -> None:
    for column in board.columns:
        base = board.cell(board.baseline, column)
        if base is None:
            continue
        for row in board.rows:
            cell = board.cell(row, column)
            if cell is None or row == board.baseline or not cell.entry.measured:
                continue
            delta = Delta((cell.entry.mean - base.entry.mean) * 100, paired_test(base.entry, cell.entry))
            board.cells[(row, column.key)] = Cell(cell.entry, cell.best, delta)


# ----------------------------------------------------------------------------- text formats


def format_score(entry: Entry) -> str:
    """Mean +- std in percent; a single run (one fold, or no spread reported) shows no +-."""
    text = f"{entry.mean * 100:.2f}"
    if entry.std is not None and entry.n_folds > 1:
        text += f" \u00b1 {entry.std * 100:.2f}"
    return text


def format_delta(delta: Delta) -> str:
    text = f"{delta.points:+.2f}"
    if delta.test is not None:
        text += f", p={format_p(delta.test.p_value)}"
    return f"({text})"


def format_p(p: float) -> str:
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def cell_text(cell: Cell) -> str:
    return format_score(cell.entry) + (f" {format_delta(cell.delta)}" if cell.delta else "")


def to_markdown(board: Leaderboard) -> str:
    """GitHub-flavoured Markdown: best measured cell bold, reference rows italic."""
    header = ["encoder"] + [c.title for c in board.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in board.rows:
        label = f"{row} (baseline)" if row == board.baseline else row
        texts = [label]
        for column in board.columns:
            cell = board.cell(row, column)
            text = "" if cell is None else cell_text(cell)
            if cell is not None and cell.best:
                text = f"**{text}**"
            elif cell is not None and not cell.entry.measured:
                text = f"*{text}*"
            texts.append(text)
        if row in board.reported_rows:
            texts[0] = f"*{texts[0]}*"
        lines.append("| " + " | ".join(texts) + " |")
    for footnote in board.footnotes():  # one paragraph each
        lines.extend(["", footnote])
    return "\n".join(lines) + "\n"


def to_csv(board: Leaderboard) -> str:
    """Long format, one line per cell, accuracy in percent."""
    records = board.records()
    buffer = io.StringIO()
    fields = list(records[0]) if records else ["row"]
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    return buffer.getvalue()


def to_json(board: Leaderboard) -> str:
    payload = {"columns": [c.key for c in board.columns], "rows": board.rows, "baseline": board.baseline,
               "cells": board.records(), "footnotes": board.footnotes(), "notes": board.notes}
    return json.dumps(payload, indent=2) + "\n"


# ----------------------------------------------------------------------------- regression gate


@dataclass(frozen=True)
class Pair:
    """The same encoder row on the same protocol in the baseline and in the new results."""

    row: str
    protocol_id: str
    baseline: Entry
    current: Entry

    @property
    def delta_points(self) -> float:
        return (self.current.mean - self.baseline.mean) * 100


@dataclass
class CheckReport:
    tolerance: float
    checked: list[Pair]
    manifest_mismatches: list[Pair]
    #: (row, protocol id) present on one side only: not checked, but worth a line in CI logs.
    only_in_baseline: list[tuple[str, str]]
    only_in_current: list[tuple[str, str]]
    notes: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[Pair]:
        # The small slack keeps a drop of exactly `tolerance` points from failing on float noise.
        return [p for p in self.checked if p.delta_points < -self.tolerance - 1e-9]

    def require_pairs(self) -> None:
        """Raise ``ResultsError`` when nothing was compared: a gate that checked nothing must not pass."""
        if self.checked:
            return
        common = len(self.manifest_mismatches)
        raise ResultsError(
            f"0 encoder/task pairs checked: the baseline has {len(self.only_in_baseline) + common} measured "
            f"pair(s), the results {len(self.only_in_current) + common}, {common} in common but on a different "
            "manifest",
            "point --baseline and RESULTS at results of the same encoders, protocols and data")


def check_regressions(baseline: Sequence[Entry], current: Sequence[Entry], tolerance: float = 0.5) -> CheckReport:
    """Compare measured scores present in both on the same protocol id and manifest.

    A pair on different manifests is listed in ``manifest_mismatches``, not compared. Call
    ``require_pairs`` (after showing the mismatches) before trusting an empty regression list.
    """
    if tolerance < 0 or math.isnan(tolerance):
        raise ConfigError(f"--tolerance must be >= 0 accuracy points, got {tolerance}", "e.g. --tolerance 0.5")
    base, base_notes = latest((e for e in baseline if e.measured), lambda e: (e.row, e.protocol_id))
    new, new_notes = latest((e for e in current if e.measured), lambda e: (e.row, e.protocol_id))
    checked, mismatched = [], []
    for key in sorted(base.keys() & new.keys()):
        pair = Pair(key[0], key[1], base[key], new[key])
        same = pair.baseline.manifest_sha256 == pair.current.manifest_sha256
        (checked if same else mismatched).append(pair)
    return CheckReport(tolerance, checked, mismatched, sorted(base.keys() - new.keys()),
                       sorted(new.keys() - base.keys()), base_notes + new_notes)
