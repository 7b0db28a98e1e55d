"""The ``audiobench`` command: wiring only. Each command group lives in its own module and
adds itself to ``app``; the library never prints, this package owns output and exit codes.

Every ``AudiobenchError``, every usage error and every ``OSError`` (a full or read-only disk
mid-run) becomes one line on stderr and exit code 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import importlib
import os
import sys

import typer

from audiobench.cli.common import console, err_console, state
from audiobench.errors import AudiobenchError

app = typer.Typer(
    name="audiobench", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
    help="Benchmark audio encoders: embed once (cached), probe every encoder the same way, compare.",
)

#: Modules that each define ``register(app)``.
COMMAND_MODULES = [
    "audiobench.cli.listing",
    "audiobench.cli.evaluate",
    "audiobench.cli.data",
    "audiobench.cli.fetch",
    "audiobench.cli.demo",
    "audiobench.cli.compare",
    "audiobench.cli.plot",
    "audiobench.cli.train",
    "audiobench.cli.bench",
    "audiobench.cli.validate",
]


@app.callback()
def _options(debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors.")) -> None:
    state.debug = debug


for _module in COMMAND_MODULES:
    importlib.import_module(_module).register(app)


def launcher_arguments(args: list[str]) -> list[str]:
    """The ``deepspeed`` launcher puts ``--local_rank=N`` before the command; it also sets
    ``LOCAL_RANK``, which is what the engine reads, so the argument is taken off."""
    kept, skip = [], False
    for i, arg in enumerate(args):
        if skip:
            skip = False
        elif arg.startswith("--local_rank=") or arg.startswith("--local-rank="):
            os.environ.setdefault("LOCAL_RANK", arg.split("=", 1)[1])
        elif arg in ("--local_rank", "--local-rank") and i + 1 < len(args):
            os.environ.setdefault("LOCAL_RANK", args[i + 1])
            skip = True
        else:
            kept.append(arg)
    return kept


def main(argv: list[str] | None = None) -> int:
    args = launcher_arguments(list(sys.argv[1:] if argv is None else argv))
    state.debug = "--debug" in args
    command = typer.main.get_command(app)
    try:
        result = command.main(args=args, prog_name="audiobench", standalone_mode=False)
    except typer.Exit as done:
        return done.exit_code
    except typer.Abort:
        err_console.print("aborted")
        return 130
    except typer.TyperException as err:  # usage errors: unknown option, bad value, missing argument
        if type(err).__name__ == "NoArgsIsHelpError":  # a bare group: its help, as --help would show
            console.print(err.format_message(), markup=False, highlight=False)
            return 0
        if state.debug:
            raise
        err_console.print(f"error: {err.format_message()}", markup=False, highlight=False, soft_wrap=True)
        return 2
    except AudiobenchError as err:
        if state.debug:
            raise
        err_console.print(f"error: {err}", markup=False, highlight=False, soft_wrap=True)
        return 2
    except OSError as err:  # the disk or the OS refused (full, read-only, gone) where no check could foresee it
        if state.debug:
            raise
        where = f"{err.filename}: " if err.filename else ""
        err_console.print(f"error: {where}{err.strerror or err} (files written before this are complete; "
                          "free space or fix permissions and run again, --debug shows where)",
                          markup=False, highlight=False, soft_wrap=True)
        return 2
    return result if isinstance(result, int) else 0


__all__ = ["app", "main", "console"]
