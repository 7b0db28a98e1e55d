"""``audiobench train``, ``audiobench export`` and ``audiobench data shard``: the Whisper-AuT recipe."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Optional

import typer

from audiobench.cli.common import console, err_console, progress_bar


def _main_process() -> bool:
    """Under torchrun / accelerate launch every process runs this command; one of them talks."""
    return os.environ.get("RANK", "0") == "0"


def _describe_counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in sorted(counts.items())) or "none"


def _quiet_engine() -> None:
    """transformers draws its own tqdm bars when writing checkpoints; this command owns output."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def _progress_callback():  # the engine's callback base class is imported only when training
    from transformers import TrainerCallback

    class RichProgress(TrainerCallback):
        """A progress bar over optimizer steps and one line per log, on the main process only."""

        def __init__(self) -> None:
            self.stack = contextlib.ExitStack()
            self.advance = None

        def on_train_begin(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                self.advance = self.stack.enter_context(progress_bar("training", total=state.max_steps))
                if state.global_step:
                    self.advance(state.global_step)

        def on_step_end(self, args, state, control, **kwargs):
            if self.advance is not None:
                self.advance(1)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if self.advance is None or not logs:
                return
            if "loss" in logs:
                err_console.print(f"step {state.global_step}: loss {logs['loss']:.4f}  lr {logs['learning_rate']:.3g}  "
                                  f"{logs['samples_per_second']:.2f} samples/s  {logs['tokens_per_second']:.0f} tokens/s")
            elif "eval_loss" in logs:
                err_console.print(f"step {state.global_step}: eval loss {logs['eval_loss']:.4f}")

        def on_train_end(self, args, state, control, **kwargs):
            self.close()

        def close(self) -> None:
            self.stack.close()
            self.advance = None

    return RichProgress()


def train(
    recipe: str = typer.Option("whisper-aut", "--recipe", help="Shipped recipe (whisper-aut, whisper-aut-tiny) "
                               "or a YAML file."),
    data: Path = typer.Option(..., "--data", help="Training manifest (.jsonl) or shard folder."),
    out: Path = typer.Option(..., "--out", help="Run folder: checkpoints, logs, final model."),
    config_file: Optional[Path] = typer.Option(None, "--config", help="YAML file layered over the recipe."),
    eval_data: Optional[Path] = typer.Option(None, "--eval-data", help="Held-out manifest or shard folder "
                                             "(same as eval_data=...)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the latest checkpoint in --out."),
    overrides: Optional[list[str]] = typer.Argument(None, help="key=value recipe overrides."),
) -> None:
    """Fine-tune Whisper end to end on a speech/sound/music mixture (Whisper-AuT).

    Example: audiobench train --recipe whisper-aut-tiny --data mix/train.jsonl --eval-data mix/eval.jsonl
    --out runs/tiny max_steps=30

    Multi-GPU: torchrun --nproc_per_node 8 --no-python audiobench train --recipe whisper-aut ...
    """
    from audiobench.training.config import load_config
    from audiobench.training.manifest import count_lines
    from audiobench.training.trainer import prepare

    _quiet_engine()
    items = list(overrides or [])
    if eval_data is not None:
        items.append(f"eval_data={eval_data}")
    config = load_config(recipe, config_file, items)
    manifests = [p for p in (data, config.eval_data) if p is not None and Path(p).is_file()]
    total = sum(count_lines(p) for p in manifests)
    progress = _progress_callback()
    bar = progress_bar("checking data", total=total) if _main_process() else contextlib.nullcontext(None)
    with bar as advance:
        run = prepare(config, str(data), out, resume=resume, callbacks=[progress], advance=advance)
    if run.is_main:
        report = run.report
        err_console.print(f"train: {report.train_rows} rows ({_describe_counts(report.domains)}), "
                          f"{report.samples_per_epoch} samples per epoch; eval: {report.eval_rows} rows")
        err_console.print(f"dropped (target over the decoder's limit): train {_describe_counts(report.dropped_long)}, "
                          f"eval {_describe_counts(report.dropped_long_eval)}")
        if run.checkpoint:
            err_console.print(f"resuming from {run.checkpoint}")
    try:
        metrics = run.train()
    finally:  # an error mid-run must not leave the live bar over the message
        progress.close()
    if run.is_main:
        err_console.print(f"done: train loss {metrics['train_loss']:.4f} in {metrics['train_runtime']:.0f} s; "
                          f"model in {out / 'final'}")


def export(source: Path = typer.Argument(..., help="Run folder or checkpoint-N folder."),
           out: Path = typer.Option(..., "--out", help="New folder for the encoder-only checkpoint.")) -> None:
    """Keep the encoder of a trained run (safetensors + config + feature-extractor config).

    Example: audiobench export runs/tiny --out encoders/aut-tiny; then
    audiobench run --encoder whisper-aut --weights encoders/aut-tiny --task esc50
    """
    from audiobench.training.export import export_encoder

    _quiet_engine()
    summary = export_encoder(source, out)
    err_console.print(f"exported the encoder of {summary['source']} ({summary['parameters']:,} parameters, "
                      f"{summary['num_mel_bins']} mel bins) to {summary['out']}")


def shard(manifest: Path = typer.Argument(..., help="Training manifest (.jsonl)."),
          out: Path = typer.Option(..., "--out", help="New folder for the shards."),
          shard_size: int = typer.Option(1000, "--shard-size", min=1, help="Clips per tar shard.")) -> None:
    """Pack a manifest into WebDataset tar shards (audio bytes + json) with a sample index.

    Example: audiobench data shard mix/train.jsonl --out mix/shards --shard-size 1000
    """
    from audiobench.training.manifest import count_lines, read_manifest
    from audiobench.training.shards import write_shards

    with progress_bar("checking manifest", total=count_lines(manifest)) as advance:
        rows = read_manifest(manifest, check_audio=True, advance=advance)
    with progress_bar("writing shards", total=len(rows)) as advance:
        summary = write_shards(rows, out, shard_size, advance)
    console.print(f"wrote {summary['samples']} samples in {len(summary['shards'])} shards to {out} "
                  f"({_describe_counts(summary['domains'])})")


def register(app: typer.Typer) -> None:
    from audiobench.cli.data import data_app

    app.command("train")(train)
    app.command("export")(export)
    data_app.command("shard")(shard)
