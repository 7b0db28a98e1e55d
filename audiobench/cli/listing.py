"""``audiobench list encoders|tasks|suites``."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from audiobench.cli.common import console
from audiobench.encoders import ENCODERS
from audiobench.errors import PluginError
from audiobench.tasks import TASKS


def list_encoders() -> None:
    table = Table(title="Encoders")
    for column in ("name", "family", "window", "sample rate", "layers", "width", "parameters", "default weights"):
        table.add_column(column)
    for name in ENCODERS.names():
        try:
            spec = ENCODERS.get(name)
        except PluginError as err:
            table.add_row(name, f"[red]broken plug-in:[/] {escape(err.message)}")
            continue
        window = f"{spec.window_seconds:g} s" if spec.window_seconds else "-"
        rate = f"{spec.sample_rate / 1000:g} kHz" if spec.sample_rate else "-"
        table.add_row(name, spec.family or "-", window, rate, spec.layers or "-", spec.width or "-",
                      spec.parameters or "-", spec.default_weights or "-")
    console.print(table)
    for name, value in ENCODERS.shadowing.items():
        console.print(f"[yellow]note:[/] plug-in {escape(value)} registers '{name}', the name of a built-in "
                      "encoder, and is ignored; rename its entry point")


def list_tasks() -> None:
    table = Table(title="Tasks", show_lines=True)
    for column in ("name", "protocols (first = default)", "description"):
        table.add_column(column)
    for name in TASKS.names():
        try:
            task = TASKS.get(name)
        except PluginError as err:
            table.add_row(name, "-", f"[red]broken plug-in:[/] {err.message}")
            continue
        protocols = "\n".join(f"[bold]{p.name}[/]: {p.description}" for p in task.protocols)
        table.add_row(name, protocols, task.description)
    console.print(table)


def list_suites() -> None:
    from audiobench.suites import load_suite, shipped_suite_names

    table = Table(title="Suites (audiobench run --suite NAME, or a YAML file of your own)", show_lines=True)
    table.add_column("name", no_wrap=True)
    for column in ("entries", "reference", "description"):
        table.add_column(column)
    for name in shipped_suite_names():
        suite = load_suite(name)
        entries = "\n".join(entry.describe() for entry in suite.entries)
        table.add_row(name, entries, "\n".join(suite.reference) or "-", suite.description)
    console.print(table)


def register(app: typer.Typer) -> None:
    list_app = typer.Typer(help="List registered encoders, tasks or shipped suites.", no_args_is_help=True)
    list_app.command("encoders", help="Registered encoders (built-in and plug-ins).")(list_encoders)
    list_app.command("tasks", help="Registered tasks and their protocols.")(list_tasks)
    list_app.command("suites", help="Shipped suites: their entries and reference files.")(list_suites)
    app.add_typer(list_app, name="list")
