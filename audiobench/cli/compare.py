"""``audiobench compare``, ``audiobench check`` and ``audiobench report``: read result files,
print a leaderboard, gate CI on regressions, write an HTML report.

The library modules (``audiobench.leaderboard``, ``formats``, ``gate``, ``report``) are imported
inside the commands: they pull in scipy and matplotlib, which every other command can do without.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from audiobench.cli.common import console, err_console
from audiobench.errors import ConfigError

if TYPE_CHECKING:
    from audiobench.leaderboard import Collection, Leaderboard
    from audiobench.suites import Suite

DEFAULT_RESULTS = Path("results")

RESULTS = typer.Argument(None, help="Result files or directories (searched recursively); default ./results.",
                         show_default=False)
BASELINE_ENCODER = typer.Option(None, "--baseline", "-b",
                                help="Encoder (or full row label) to show deltas and paired-test p-values against.")
FORCE = typer.Option(False, "--force", help="Rank results on different manifests of one protocol together "
                     "(the column is marked with a dagger).")
WITH_REFERENCE = typer.Option(False, "--with-reference", help="Also show published numbers found in the inputs "
                              "(e.g. results/reference/), marked and never ranked.")
SUITE = typer.Option(None, "--suite", "-s", help="Only that suite's results and columns (a shipped name or a YAML "
                     "file), with its reference rows and each score's delta to the published one.")


class Format(str, Enum):
    table = "table"
    markdown = "markdown"
    csv = "csv"
    json = "json"
    html = "html"


def register(app: typer.Typer) -> None:
    app.command("compare")(compare)
    app.command("check")(check)
    app.command("report")(report)


def _collect(paths: Optional[list[Path]]) -> "Collection":
    """Read the inputs and warn, by name, about every file that could not be used."""
    from audiobench.leaderboard import collect

    collection = collect(paths or [DEFAULT_RESULTS])
    for skipped in collection.skipped:
        _warn(f"skipping {skipped.reason}")
    return collection


def _warn(message: str) -> None:
    err_console.print(f"warning: {message}", markup=False, highlight=False, soft_wrap=True)


def leaderboard(paths: Optional[list[Path]], baseline: Optional[str], force: bool, with_reference: bool,
                suite: Optional[str] = None, layer: str = "best") -> tuple["Collection", "Leaderboard"]:
    from audiobench.leaderboard import at_layer, build_leaderboard

    if suite is not None:
        from audiobench.suites import load_suite
        return suite_leaderboard(load_suite(suite), paths, baseline, force)
    collection = _collect(paths)
    if layer != "best":
        if not layer.isdigit():
            raise ConfigError(f"--layer {layer}: not a layer", "use best or a layer index (0 = input embeddings)")
        collection.entries = at_layer(collection.entries, int(layer))
    if with_reference and not collection.reported:
        _warn("--with-reference: the inputs hold no reference file (e.g. results/reference/whisper-aut-paper.json)")
    board = build_leaderboard(collection.entries, baseline=baseline, force=force, with_reference=with_reference)
    return collection, _noted(board)


def suite_leaderboard(suite: "Suite", paths: Optional[list[Path]], baseline: Optional[str] = None,
                      force: bool = False) -> tuple["Collection", "Leaderboard"]:
    """The suite's board over ``paths`` (default ./results) and the suite's reference files."""
    from audiobench.suites.board import suite_board

    collection = _collect([*(paths or [DEFAULT_RESULTS]), *suite.reference_paths()])
    return collection, _noted(suite_board(suite, collection.entries, baseline=baseline, force=force))


def _noted(board: "Leaderboard") -> "Leaderboard":
    for note in board.notes:
        _warn(note)
    return board


def compare(
    paths: Optional[list[Path]] = RESULTS,
    baseline: Optional[str] = BASELINE_ENCODER,
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="Output format."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the leaderboard to FILE instead of stdout."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Also write a grouped bar chart (PNG) to FILE."),
    force: bool = FORCE,
    with_reference: bool = WITH_REFERENCE,
    suite: Optional[str] = SUITE,
    layer: str = typer.Option("best", "--layer", help="best: each result as written (a --layer all result shows "
                              "its best layer on validation); N: every result at layer N (curves included)."),
) -> None:
    """Leaderboard: encoders as rows, task protocols as columns, mean +- std accuracy (%).

    Examples:\n
      audiobench compare\n
      audiobench compare results/ --baseline whisper-large-v3 --with-reference\n
      audiobench compare results/ --suite whisper-aut-paper\n
      audiobench compare results/ --format markdown --out leaderboard.md --plot leaderboard.png
    """
    from audiobench import formats
    from audiobench import report as figures
    from audiobench.files import atomic_write_bytes, atomic_write_text, ensure_writable

    for path, option in ((out, "--out"), (plot, "--plot")):
        if path is not None:
            ensure_writable(path, option, directory=False)
    _, board = leaderboard(paths, baseline, force, with_reference, suite, layer)
    if plot is not None:
        atomic_write_bytes(plot, figures.bar_chart_png(board))
        err_console.print(f"wrote {plot}", markup=False, highlight=False, soft_wrap=True)

    if fmt is Format.table and out is None:
        console.print(formats.to_rich(board))
        for line in board.footnotes():
            console.print(line, markup=False, highlight=False, soft_wrap=True)
        return
    text = {
        Format.table: lambda: formats.to_text(board),
        Format.markdown: lambda: formats.to_markdown(board),
        Format.csv: lambda: formats.to_csv(board),
        Format.json: lambda: formats.to_json(board),
        Format.html: lambda: figures.leaderboard_page(board),
    }[fmt]()
    if out is None:
        console.out(text, end="", highlight=False)
    else:
        atomic_write_text(out, text)
        err_console.print(f"wrote {out}", markup=False, highlight=False, soft_wrap=True)


def check(
    paths: list[Path] = typer.Argument(..., help="New result files or directories (searched recursively)."),
    baseline: Path = typer.Option(..., "--baseline", "-b", help="Baseline result file or directory."),
    tolerance: float = typer.Option(0.5, "--tolerance", help="Allowed drop in accuracy points before failing."),
    suite: Optional[str] = typer.Option(None, "--suite", "-s", help="Gate only the results this suite's entries "
                                        "select (a shipped name or a YAML file)."),
) -> None:
    """Regression gate: exit 1 if any encoder/task dropped by more than --tolerance points.

    Only results present in both, on the same protocol id and manifest, are compared; pairs
    whose manifests differ are listed and not compared. Checking zero pairs is an error
    (exit 2), never a pass. Reference (published) numbers are ignored.

    Example (CI):\n
      audiobench check --baseline results/ new-results/ --tolerance 0.5\n
      audiobench check --baseline results/ new-results/ --suite whisper-aut-paper
    """
    from audiobench.gate import check_regressions

    base, new = _collect([baseline]).entries, _collect(paths).entries
    if suite is not None:
        from audiobench.suites import load_suite
        from audiobench.suites.board import suite_entries

        chosen = load_suite(suite)
        base, new = suite_entries(chosen, base), suite_entries(chosen, new)
    outcome = check_regressions(base, new, tolerance)
    for note in outcome.notes:
        _warn(note)
    for pair in outcome.manifest_mismatches:
        _warn(f"not compared: {pair.row} on {pair.protocol_id}: manifest differs "
              f"(baseline {(pair.baseline.manifest_sha256 or 'unknown')[:12]}, "
              f"results {(pair.current.manifest_sha256 or 'unknown')[:12]})")
    for side, keys in (("baseline", outcome.only_in_baseline), ("results", outcome.only_in_current)):
        if keys:
            _warn(f"only in the {side}, not checked: " + ", ".join(f"{row} on {pid}" for row, pid in keys))
    outcome.require_pairs()
    regressed = set(map(id, outcome.regressions))
    for pair in outcome.checked:
        status = "REGRESSED" if id(pair) in regressed else "ok"
        console.print(f"{status:9} {pair.row} on {pair.protocol_id}: {pair.baseline.mean * 100:.2f} -> "
                      f"{pair.current.mean * 100:.2f} ({pair.delta_points:+.2f} points)",
                      markup=False, highlight=False, soft_wrap=True)
    console.print(f"checked {len(outcome.checked)} pair(s); {len(outcome.regressions)} regressed by more than "
                  f"{tolerance:g} point(s)", markup=False, highlight=False)
    if outcome.regressions:
        raise typer.Exit(1)


def report(
    paths: Optional[list[Path]] = RESULTS,
    out: Path = typer.Option(..., "--out", "-o", help="HTML file to write."),
    baseline: Optional[str] = BASELINE_ENCODER,
    force: bool = FORCE,
    with_reference: bool = WITH_REFERENCE,
) -> None:
    """One self-contained HTML page: leaderboard, bar chart, layer curves, throughput.

    Example:\n
      audiobench report results/ --out report.html
    """
    from audiobench.report import render_report
    from audiobench.files import atomic_write_text, ensure_writable

    ensure_writable(out, "--out", directory=False)
    collection, board = leaderboard(paths, baseline, force, with_reference)
    atomic_write_text(out, render_report(collection, board))
    err_console.print(f"wrote {out}", markup=False, highlight=False, soft_wrap=True)
