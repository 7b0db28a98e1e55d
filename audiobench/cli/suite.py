"""``audiobench run --suite``: run a suite's entries with progress bars, then print what each
embedding pass did, the results, the failures and the suite's leaderboard."""

from __future__ import annotations

import traceback
from pathlib import Path

from audiobench.cli import common
from audiobench.cli.common import console, err_console
from audiobench.cli.evaluate import print_results
from audiobench.errors import AudiobenchError
from audiobench.suites import load_suite
from audiobench.suites.runner import SuiteRun, run_suite


def run_suite_command(encoder: str, suite_name: str, tasks: list[str], *, results_dir: Path, **options) -> int:
    """Exit code: 0 when every entry ran, 1 when any failed (each one reported). ``options``
    are ``run_suite``'s."""
    from audiobench.cli.compare import suite_leaderboard
    from audiobench.formats import to_rich

    suite = load_suite(suite_name).restricted(tasks)
    err_console.print(f"suite {suite.name}: {len(suite.entries)} entries on {len(suite.protocol_ids)} task "
                      f"protocol(s) with {encoder}", highlight=False)
    run = run_suite(encoder, suite, results_dir=results_dir, progress=common.progress_bar, **options)
    print_passes(run)
    if run.results:
        print_results(run.results, results_dir)
        _, board = suite_leaderboard(suite, [results_dir])
        console.print(to_rich(board))
        for line in board.footnotes():
            console.print(line, markup=False, highlight=False, soft_wrap=True)
    print_failures(run)
    return 1 if run.failed else 0


def print_passes(run: SuiteRun) -> None:
    """One line per embedding pass: clips cached and encoded, and what was skipped or missing."""
    for embedded in run.passes:
        if embedded.embedding is None:
            continue
        report, manifest = embedded.embedding.report, embedded.embedding.manifest
        speed = f", {report.clips_per_second:.1f} clips/s" if report.clips_per_second else ""
        err_console.print(f"{embedded.protocol_id}: {report.clips} clips, {report.cache_hits} cached, "
                          f"{report.encoded} encoded on {report.device}{speed}", highlight=False)
        if report.skipped:
            err_console.print(f"[yellow]skipped {len(report.skipped)} unreadable clip(s)[/] (--skip-bad): "
                              + "; ".join(f"{i}: {r}" for i, r in report.skipped[:5]))
        if manifest.missing:
            err_console.print(f"[yellow]note:[/] {len(manifest.missing)} clip(s) named by {embedded.protocol_id} "
                              f"are not in {manifest.root}; its results are not comparable with full-data results")


def print_failures(run: SuiteRun) -> None:
    failed = run.failed
    if not failed:
        console.print(f"all {len(run.outcomes)} entries of {run.suite.name} ran", highlight=False)
        return
    err_console.print(f"[red]{len(failed)} of {len(run.outcomes)} entries of {run.suite.name} failed:[/]")
    for outcome in failed:
        error = outcome.error
        # Our errors are one line with their fix; anything else is a bug and names its type.
        text = str(error) if isinstance(error, AudiobenchError) else f"{type(error).__name__}: {error}"
        err_console.print(f"  {outcome.entry.describe()}: {text}", markup=False, highlight=False, soft_wrap=True)
        if common.state.debug:
            err_console.print("".join(traceback.format_exception(error)), markup=False, highlight=False)
