"""``audiobench plot layers``: figures drawn from result files."""

from __future__ import annotations

from pathlib import Path

import typer

from audiobench.cli.common import err_console
from audiobench.errors import ConfigError

app = typer.Typer(help="Figures from result files (PNG, matplotlib Agg).", no_args_is_help=True)


@app.command("layers")
def layers(paths: list[Path] = typer.Argument(..., help="Result files or directories of `--layer all` runs."),
           out: Path = typer.Option(..., "--out", "-o", help="PNG file to write.")) -> None:
    """Accuracy against layer (test solid, validation dashed) for several encoders, one panel
    per task protocol.

    Example: audiobench plot layers results/ --out layers.png
    """
    from audiobench.cli.compare import _collect
    from audiobench.files import atomic_write_bytes
    from audiobench.report import layer_sweep_png

    entries = _collect(paths).measured
    if not any(e.result.layer_curve for e in entries):
        raise ConfigError(f"no --layer all result among {', '.join(map(str, paths))}",
                          "run `audiobench run ... --layer all` (or `probe ... --layer all`) first")
    atomic_write_bytes(out, layer_sweep_png(entries))
    err_console.print(f"wrote {out}", markup=False, highlight=False)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="plot")
