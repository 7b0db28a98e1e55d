"""``audiobench train``, ``audiobench export`` and ``audiobench data shard``: the Whisper-AuT recipe."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Optional

import typer

from audiobench.cli.common import console, err_console, progress_bar
from audiobench.files import ensure_writable


def _main_process() -> bool:
    """Under torchrun / accelerate launch every process runs this command; one of them talks."""
    return os.environ.get("RANK", "0") == "0"


PCM16K_HELP = ("Store clips decoded and resampled to 16 kHz 16-bit PCM WAV (about 1 MB per 30 s) instead of "
               "their original bytes: training workers then only copy samples.")


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
                                  f"{logs['samples_per_second']:.2f} samples/s  "
                                  f"{logs['tokens_per_second']:.0f} tokens/s")
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
    data: list[str] = typer.Option(..., "--data", help="A data list (JSONL of loose files: small runs), a shard "
                                   "folder or URL holding shards.json, or DOMAIN=PATTERN (brace pattern of paths, "
                                   "URLs or pipe: commands); repeat DOMAIN=PATTERN per domain."),
    out: Path = typer.Option(..., "--out", help="Run folder: checkpoints, logs, final model."),
    config_file: Optional[Path] = typer.Option(None, "--config", help="YAML file layered over the recipe."),
    eval_data: Optional[Path] = typer.Option(None, "--eval-data", help="Held-out data list (JSONL) "
                                             "(same as eval_data=...)."),
    resume: str = typer.Option("auto", "--resume", help="auto: continue from the newest complete checkpoint in "
                               "--out, or start fresh when there is none; never: refuse a folder with "
                               "checkpoints; or a checkpoint-N folder."),
    overrides: Optional[list[str]] = typer.Argument(None, help="key=value recipe overrides."),
) -> None:
    """Fine-tune Whisper end to end on a speech/sound/music mixture (Whisper-AuT).

    Example: audiobench train --recipe whisper-aut-tiny --data mix/train.jsonl --eval-data mix/eval.jsonl
    --out runs/tiny max_steps=30

    Multi-GPU: torchrun --nproc_per_node 8 --no-python audiobench train --recipe whisper-aut ...
    (commands for deepspeed, accelerate launch and several nodes: docs/training.md)
    """
    from audiobench.training.config import load_config
    from audiobench.training.datalist import count_lines
    from audiobench.training.trainer import build_run

    _quiet_engine()
    ensure_writable(out, "--out")
    items = list(overrides or [])
    if eval_data is not None:
        items.append(f"eval_data={eval_data}")
    config = load_config(recipe, config_file, items)
    data_lists = [p for p in (*data, config.eval_data) if p is not None and str(p).endswith(".jsonl")
                 and Path(p).is_file()]
    total = sum(count_lines(p) for p in data_lists)
    progress = _progress_callback()
    bar = progress_bar("checking data", total=total) if _main_process() else contextlib.nullcontext(None)
    with bar as advance:
        run = build_run(config, data, out, resume=resume, callbacks=[progress], advance=advance)
    if run.is_main:
        report = run.report
        counts = {d: n for d, n in report.domains.items() if n is not None}
        err_console.print(f"train: {_describe_counts(counts) if counts else 'streamed shards'}, "
                          f"{report.samples_per_epoch} samples per epoch; eval: {report.eval_rows} rows")
        for name in run.resume.set_aside:
            err_console.print(f"[yellow]warning:[/] {out / name} is incomplete (no complete.json): "
                              f"moved to {out / 'incomplete' / name}, not resumed from", soft_wrap=True)
        if run.checkpoint:
            err_console.print(f"resuming from {run.checkpoint}", soft_wrap=True)
    try:
        metrics = run.train()
    finally:  # an error mid-run must not leave the live bar over the message
        progress.close()
    if run.is_main:
        report = run.report
        err_console.print("dropped: " + "; ".join(f"{why} {_describe_counts(n)}"
                                                   for why, n in report.to_dict()["dropped"].items())
                          + f"; cut to 30 s: {_describe_counts(report.dropped('cut'))} "
                          f"(details: {out / 'data_report.json'})")
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
    ensure_writable(out.parent, "--out")
    summary = export_encoder(source, out)
    err_console.print(f"exported the encoder of {summary['source']} ({summary['parameters']:,} parameters, "
                      f"{summary['num_mel_bins']} mel bins) to {summary['out']}")


def shard(data_list: Path = typer.Argument(..., help="Data list (JSONL) of training clips."),
          out: Path = typer.Option(..., "--out", help="New folder for the shards (an interrupted write resumes)."),
          shard_size: int = typer.Option(1000, "--shard-size", min=1, help="Clips per tar shard."),
          workers: int = typer.Option(1, "--workers", min=1, help="Shards written in parallel."),
          seed: int = typer.Option(0, "--seed", help="Seed of the shuffle before sharding."),
          pcm16k: bool = typer.Option(False, "--pcm16k", help=PCM16K_HELP)) -> None:
    """Pack a data list into per-domain WebDataset tar shards (audio bytes + json) and shards.json.

    Example: audiobench data shard mix/train.jsonl --out mix/shards --shard-size 1000
    """
    from audiobench.training.datalist import count_lines, read_data_list
    from audiobench.training.shards import write_shards

    ensure_writable(out, "--out")
    with progress_bar("checking data list", total=count_lines(data_list)) as advance:
        rows = read_data_list(data_list, check_audio=True, advance=advance)
    with progress_bar("writing shards", total=len(rows)) as advance:
        summary = write_shards(rows, out, shard_size, workers=workers, seed=seed, info={"source": str(data_list)},
                               advance=advance, pcm16k=pcm16k)
    print_shard_summary(summary, out)


def print_shard_summary(summary: dict, out: Path) -> None:
    shards = sum(len(d["shards"]) for d in summary["domains"].values())
    counts = {d: e["samples"] for d, e in summary["domains"].items()}
    console.print(f"wrote {summary['samples']} samples ({summary['hours']:.2f} h) in {shards} shards to {out} "
                  f"({_describe_counts(counts)})")
    if summary["skipped"]:
        first = summary["skipped"][0]
        err_console.print(f"[yellow]skipped {len(summary['skipped'])} unreadable clip(s)[/], e.g. "
                          f"{first['source']}: {first['reason']} (all listed in {out / 'shards.json'})")


def prepare_corpus_command(name: str, source: Path, out: Path, options, shard_size: int, workers: int,
                           pcm16k: bool) -> None:
    """``data prepare CORPUS``: read a downloaded corpus, write shards and a data list."""
    from audiobench.training.corpora import prepare_corpus

    with contextlib.ExitStack() as stack:
        reading = err_console.status(f"reading {name} from {source}")
        reading.start()
        stack.callback(reading.stop)
        state = {}

        def start(rows: int) -> None:  # the corpus is read: from here on, shards are written
            reading.stop()
            state["advance"] = stack.enter_context(progress_bar(f"writing {name} shards", total=rows))

        summary = prepare_corpus(name, source, out, options, shard_size, workers,
                                 advance=lambda n: state["advance"](n), on_rows=start, pcm16k=pcm16k)
    print_shard_summary(summary, out)
    if summary["missing_audio"]:
        err_console.print(f"[yellow]{summary['missing_audio']} entries have no audio on disk[/] "
                          f"(listed in {out / 'missing.txt'})")
    console.print(f"next: audiobench data info {out}; audiobench train --data {out} ...")


def register(app: typer.Typer) -> None:
    from audiobench.cli.data import data_app

    app.command("train")(train)
    app.command("export")(export)
    data_app.command("shard")(shard)
