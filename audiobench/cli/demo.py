"""``audiobench demo``: the whole loop offline in a few minutes on a laptop CPU."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Optional

import typer

from audiobench.cli.common import console, err_console, progress_bar
from audiobench.cli.compare import leaderboard
from audiobench.cli.data import DEFAULT_SYNTH_TASKS

#: whisper-micro: Whisper's code path at a size a laptop CPU encodes in seconds.
DEMO_ENCODERS = (("logmel", False), ("whisper-micro", True))

NEXT_STEPS = """[bold]Next, on real data and real weights[/] (GPU recommended):
  audiobench data download esc50
  audiobench run --encoder whisper-large-v3 --task esc50
  audiobench compare results/"""


def demo(workdir: Optional[Path] = typer.Option(None, "--workdir", help="Where to write data and cache "
                                                "(default: a temporary directory)."),
         results_dir: Path = typer.Option(Path("results/demo"), "--results-dir")) -> None:
    """Synthesise the tiny suite, run logmel and a random-init whisper-micro on ESC-50, GTZAN and
    Speech Commands, and print the leaderboard. No network."""
    from audiobench import api
    from audiobench.formats import to_rich
    from audiobench.synth import synthesize

    with tempfile.TemporaryDirectory(prefix="audiobench-demo-") as tmp:
        base = workdir or Path(tmp)
        for task in DEFAULT_SYNTH_TASKS:
            root = base / "data" / task
            if not root.exists():
                summary = synthesize(task, root, "tiny", seed=0)
                err_console.print(f"synthesised {task}: {summary['clips']} clips")
            manifest = api.load_manifest(task, None, root)
            for name, random_init in DEMO_ENCODERS:
                api.run(name, manifest, random_init=random_init, device="cpu", batch_size=8, cache_dir=base / "cache",
                        results_dir=results_dir, progress=progress_bar)
    _, board = leaderboard([results_dir], baseline="logmel", force=False, with_reference=False)
    console.print(to_rich(board))
    console.print(f"Results: {results_dir} (again: audiobench compare {results_dir})")
    console.print(NEXT_STEPS)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
