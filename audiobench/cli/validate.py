"""``audiobench validate-encoder MODULE:OBJECT``: a plug-in checked against the encoder contract."""

from __future__ import annotations

import typer
from rich.markup import escape

from audiobench.cli import common
from audiobench.cli.common import console, err_console


def validate_encoder_command(
        target: str = typer.Argument(..., help="MODULE:OBJECT of an EncoderSpec or Encoder, e.g. my_encoders:spec."),
        weights: str | None = common.WEIGHTS, random_init: bool = common.RANDOM_INIT) -> None:
    """Check an encoder plug-in: shapes, frame counts, determinism, batch invariance, fingerprint.

    Prints one line per failed check and exits with 1 if any failed.

    Example: audiobench validate-encoder my_encoders:spec
    """
    from audiobench.encoders import ENCODERS
    from audiobench.validate import ATOL, RTOL, validate_encoder

    ENCODERS.names()  # reads the entry points, recording any that a built-in shadows
    shadows = next((name for name, value in ENCODERS.shadowing.items() if value == target), None)
    report = validate_encoder(target, weights, random_init, shadows)
    for failure in report.failures:
        err_console.print(f"[red]FAIL[/] {escape(failure)}", soft_wrap=True)
    passed = len(report.checks) - len(report.failures)
    summary = f"{target}: {passed} of {len(report.checks)} checks passed (pooled tolerance {ATOL:g} + {RTOL:g} x max)"
    console.print(summary if report.passed else f"[red]{escape(summary)}[/]")
    if not report.passed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("validate-encoder")(validate_encoder_command)
