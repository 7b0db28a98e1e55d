"""``audiobench demo``: the whole loop offline in a few minutes on a laptop CPU."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Optional

import typer

from audiobench.cli.common import console, err_console, progress_bar
from audiobench.cli.compare import suite_leaderboard
from audiobench.files import ensure_writable

#: whisper-micro and wav2vec2-micro: Whisper's and a speech-SSL model's code paths (random init)
#: at a size a laptop CPU encodes in seconds.
DEMO_ENCODERS = (("logmel", False), ("whisper-micro", True), ("wav2vec2-micro", True))
#: The shipped suite the demo runs (audiobench/suites/demo.yaml).
DEMO_SUITE = "demo"
#: The demo's default output: untracked, so running it never rewrites the committed baseline.
SCRATCH = Path("demo-results")

NEXT_STEPS = """[bold]Next, on real data and real weights[/] (GPU recommended):
  audiobench data download esc50
  audiobench run --encoder whisper-large-v3 --task esc50
  audiobench compare results/"""


def demo(workdir: Optional[Path] = typer.Option(None, "--workdir", help="Where to write data and cache "
                                                "(default: a temporary directory)."),
         results_dir: Path = typer.Option(SCRATCH, "--results-dir", help="Where result files are written (a "
                                          "scratch folder, ignored by git; never the committed results/demo).")
         ) -> None:
    """Synthesise the tiny trees and run the `demo` suite (ESC-50, GTZAN and Speech Commands) with
    logmel and random-init whisper-micro and wav2vec2-micro, then print the leaderboard. No network.

    The committed baseline is results/demo; check a fresh run against it with
    `audiobench check demo-results --baseline results/demo`."""
    from audiobench.cli.suite import print_failures, print_passes
    from audiobench.formats import to_rich
    from audiobench.suites import load_suite
    from audiobench.suites.runner import run_suite
    from audiobench.synth import synthesize

    ensure_writable(results_dir, "--results-dir")
    if workdir is not None:
        ensure_writable(workdir, "--workdir")
    suite = load_suite(DEMO_SUITE)
    failed = 0
    with tempfile.TemporaryDirectory(prefix="audiobench-demo-") as tmp:
        base = workdir or Path(tmp)
        for task in suite.tasks:
            root = base / "data" / task
            if not root.exists():
                summary = synthesize(task, root, "tiny", seed=0)
                err_console.print(f"synthesised {task}: {summary['clips']} clips")
        for name, random_init in DEMO_ENCODERS:
            run = run_suite(name, suite, data_dir=base / "data", cache_dir=base / "cache", results_dir=results_dir,
                            random_init=random_init, device="cpu", batch_size=8, progress=progress_bar)
            print_passes(run)
            print_failures(run)
            failed += len(run.failed)
    _, board = suite_leaderboard(suite, [results_dir], baseline="logmel")
    console.print(to_rich(board))
    console.print(f"Results: {results_dir} (again: audiobench compare {results_dir} --suite {DEMO_SUITE}; against "
                  f"the committed baseline: audiobench check {results_dir} --baseline results/demo)")
    console.print(NEXT_STEPS)
    if failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
