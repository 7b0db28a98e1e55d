"""Suites: a named, declarative set of task/protocol runs, read from a YAML file.

A suite lists entries (task, protocol, probe, pooling, layer, window) and the reference files
of published numbers it is compared with. Shipped suites live next to this module
(``audiobench/suites/<name>.yaml``); a user suite is any YAML file given by path. The pydantic
model below is the schema's single source (``Suite.model_json_schema()``); tasks, protocols
and probes are checked against their registries, so plug-ins work in suites too.

Format::

    name: whisper-aut-paper
    description: one paragraph, shown by `audiobench list suites`
    reference: [whisper-aut-paper.reference.json]   # paths relative to the suite file
    entries:
      - {task: esc50, protocol: paper, probe: paper, pooling: padded-mean}
      - task: gtzan                  # protocol: the task's default; probe: logistic;
                                     # pooling: masked-mean; layer: last; window: full

Every error names the file, the line and the key, in one line.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, ValidationInfo, field_validator

from audiobench.errors import AudiobenchError, ConfigError
from audiobench.registry import Registry

if TYPE_CHECKING:
    from audiobench.results import Result

#: Probe and pooling of an entry that does not name them (the ``run`` command's defaults).
DEFAULT_PROBE = "logistic"
DEFAULT_POOLING = "masked-mean"
LAYER_WORDS = ("last", "all")
SUFFIX = ".yaml"

Layer = int | str


class ItemError(ValueError):
    """A problem with one list item found while checking the whole list (so that the error
    points at the item's line, not the list's)."""

    def __init__(self, index: int, message: str) -> None:
        super().__init__(message)
        self.index = index


class SuiteEntry(BaseModel):
    """One run of the suite on one task protocol."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task: str = Field(description="registered task name (`audiobench list tasks`)")
    protocol: str = Field(default="", validate_default=True,
                          description="protocol of the task; default: the task's default protocol")
    probe: str = Field(default=DEFAULT_PROBE, description="registered probe name")
    pooling: str = Field(default=DEFAULT_POOLING, description="masked-mean | padded-mean")
    layer: Layer = Field(default="last", description="last | all | an index (0 = input embeddings)")
    window: str = Field(default="full", description="full (the encoder's whole input window, as the paper) | trim "
                        "(only the positions covering each clip)")

    @field_validator("task", "probe")
    @classmethod
    def _registered(cls, name: str, info: ValidationInfo) -> str:
        _lookup(_registry(info.field_name).get, name)
        return name

    @field_validator("protocol")
    @classmethod
    def _known_protocol(cls, protocol: str, info: ValidationInfo) -> str:
        if "task" not in info.data:  # the task itself is wrong; that is the error to report
            return protocol
        from audiobench.tasks import get_task
        # Resolved here, so every entry names its protocol and equal entries compare equal.
        return _lookup(get_task(info.data["task"]).check_protocol, protocol or None)

    @field_validator("pooling")
    @classmethod
    def _known_pooling(cls, pooling: str) -> str:
        from audiobench.choices import POOLINGS
        return _one_of(pooling, POOLINGS, "pooling")

    @field_validator("window")
    @classmethod
    def _known_window(cls, window: str) -> str:
        from audiobench.choices import WINDOWS
        return _one_of(window, WINDOWS, "window")

    @field_validator("layer", mode="before")
    @classmethod
    def _layer(cls, layer: Any) -> Layer:
        # bool is an int to Python; `layer: yes` is a typo, not layer 1.
        if isinstance(layer, int) and not isinstance(layer, bool):
            return layer
        if isinstance(layer, str) and layer in LAYER_WORDS:
            return layer
        raise ValueError(f"{layer!r} is not a layer: use last, all or an integer index")

    @property
    def protocol_id(self) -> str:
        return f"{self.task}/{self.protocol}"

    def selects(self, result: Result) -> bool:
        """Whether ``result`` (of any encoder) is a run of this entry."""
        settings = (result.task.protocol_id, result.probe.name, result.pooling, result.extraction.window)
        if settings != (self.protocol_id, self.probe, self.pooling, self.window):
            return False
        if self.layer == "all":  # one result per run, headed by the best layer on validation
            return bool(result.layer_curve)
        num_layers = result.encoder.num_layers
        return not result.layer_curve and result.layer == (
            num_layers - 1 if self.layer == "last" else int(self.layer) % num_layers)

    def describe(self) -> str:
        """One line, e.g. ``esc50/paper: paper probe, padded-mean, last layer``."""
        layer = {"last": "last layer", "all": "all layers"}.get(str(self.layer), f"layer {self.layer}")
        window = "" if self.window == "full" else f", {self.window} window"
        return f"{self.protocol_id}: {self.probe} probe, {self.pooling}, {layer}{window}"


class Suite(BaseModel):
    """A named list of entries and the reference files it is compared with."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, description="suite name, as given to --suite")
    description: str = Field(default="", description="what the suite measures, for `list suites`")
    reference: tuple[str, ...] = Field(default=(), description="reference files of published numbers "
                                       "(audiobench-reported-rows JSON), relative to the suite file")
    entries: tuple[SuiteEntry, ...] = Field(min_length=1, description="the runs")
    #: Where the suite was read from (set by the loader; not part of the file).
    _path: Path | None = PrivateAttr(default=None)

    @property
    def path(self) -> Path | None:
        return self._path

    @field_validator("reference")
    @classmethod
    def _reference_files_exist(cls, files: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        directory = (info.context or {}).get("directory")
        for index, name in enumerate(files):
            if directory is not None and not (Path(directory) / name).is_file():
                raise ItemError(index, f"reference file {name} not found in {directory}")
        return files

    @field_validator("entries")
    @classmethod
    def _no_repeated_entry(cls, entries: tuple[SuiteEntry, ...]) -> tuple[SuiteEntry, ...]:
        first_seen: dict[SuiteEntry, int] = {}
        for index, entry in enumerate(entries):
            if entry in first_seen:
                raise ItemError(index, f"{entry.describe()} repeats entries[{first_seen[entry]}]")
            first_seen[entry] = index
        return entries

    @property
    def tasks(self) -> list[str]:
        """Task names in the order of their first entry."""
        return list(dict.fromkeys(entry.task for entry in self.entries))

    @property
    def protocol_ids(self) -> list[str]:
        """Protocol ids in the order of their first entry: the columns of the suite's table."""
        return list(dict.fromkeys(entry.protocol_id for entry in self.entries))

    def selects(self, result: Result) -> bool:
        return any(entry.selects(result) for entry in self.entries)

    def reference_paths(self) -> list[Path]:
        base = self.path.parent if self.path is not None else Path.cwd()
        return [base / name for name in self.reference]

    def restricted(self, tasks: list[str]) -> Suite:
        """The suite with only the entries of ``tasks`` (``--task``, repeated)."""
        if not tasks:
            return self
        unknown = [task for task in tasks if task not in self.tasks]
        if unknown:
            raise ConfigError(f"--task {unknown[0]}: not in suite {self.name}", f"its tasks: {', '.join(self.tasks)}")
        entries = tuple(entry for entry in self.entries if entry.task in tasks)
        return self.model_copy(update={"entries": entries})


# ----------------------------------------------------------------------------- loading


def shipped_suite_names() -> list[str]:
    folder = resources.files(__name__)
    return sorted(p.name[: -len(SUFFIX)] for p in folder.iterdir() if p.name.endswith(SUFFIX))


def shipped_suite_path(name: str) -> Path:
    return Path(str(resources.files(__name__).joinpath(name + SUFFIX)))


def load_suite(name_or_path: str | Path) -> Suite:
    """A shipped suite by name, or a suite file by path (anything ending in .yaml/.yml or
    that exists)."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ConfigError(f"suite file {path} does not exist", "pass a YAML file or a shipped suite name "
                              f"({', '.join(shipped_suite_names())})")
        return read_suite(path)
    names = shipped_suite_names()
    if str(name_or_path) not in names:
        close = difflib.get_close_matches(str(name_or_path), names, n=1)
        suggestion = f"did you mean '{close[0]}'? " if close else ""
        raise ConfigError(f"unknown suite '{name_or_path}'",
                          f"{suggestion}shipped suites: {', '.join(names)}; or pass a YAML file")
    return read_suite(shipped_suite_path(str(name_or_path)))


def read_suite(path: Path) -> Suite:
    """Parse and validate one suite file; ``ConfigError`` names file, line and key."""
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read suite file ({err})", "check the path and its permissions") from err
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as err:
        line = err.problem_mark.line + 1 if err.problem_mark else 1
        raise ConfigError(f"{path}:{line}: not valid YAML ({err.problem})", "fix the YAML syntax") from err
    if not isinstance(root, yaml.MappingNode):
        line = root.start_mark.line + 1 if root is not None else 1
        raise ConfigError(f"{path}:{line}: a suite file is a mapping with name, description, reference and "
                          "entries", "see audiobench/suites/*.yaml for examples")
    lines = _key_lines(root, (), path)
    data = yaml.safe_load(text)
    try:
        suite = Suite.model_validate(data, context={"directory": Path(path).parent})
    except ValidationError as err:
        raise _located(err, lines, path) from None
    suite._path = Path(path)
    return suite


def _key_lines(node: yaml.Node, at: tuple, path: Path) -> dict[tuple, int]:
    """Line (1-based) of every key and list item, by its location tuple (as pydantic reports
    it); a repeated key, which YAML loaders silently collapse, is an error here."""
    lines = {at: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                raise ConfigError(f"{path}:{key_node.start_mark.line + 1}: {_dotted(at + (key,))}: key repeated",
                                  "keep one of them")
            seen.add(key)
            lines.update(_key_lines(value_node, at + (key,), path))
            lines[at + (key,)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines.update(_key_lines(item, at + (index,), path))
    return lines


def _located(err: ValidationError, lines: dict[tuple, int], path: Path) -> ConfigError:
    """The first validation error as one line: ``FILE:LINE: KEY: what is wrong``."""
    # An entry that failed also empties the list ("too short"): report causes, not consequences.
    errors = [e for e in err.errors()
              if not any(len(o["loc"]) > len(e["loc"]) and o["loc"][:len(e["loc"])] == e["loc"] for o in err.errors())]
    first = errors[0]
    cause = first.get("ctx", {}).get("error")
    loc = tuple(first["loc"]) + ((cause.index,) if isinstance(cause, ItemError) else ())
    known = next(loc[:n] for n in range(len(loc), -1, -1) if loc[:n] in lines)
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    kind = first["type"]
    if kind == "extra_forbidden":
        model = SuiteEntry if "entries" in loc[:-1] else Suite
        allowed = list(model.model_fields)
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        problem = ("unknown key" + (f" (did you mean '{close[0]}'?)" if close else "")
                   + f"; allowed: {', '.join(allowed)}")
    elif kind == "missing":
        problem = "required key missing"
    else:
        problem = first["msg"].removeprefix("Value error, ")
    return ConfigError(f"{path}:{lines[known]}: {_dotted(loc)}: {problem}{more}")


def _dotted(loc: tuple) -> str:
    """``("entries", 2, "probe")`` -> ``entries[2].probe``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _registry(field: str) -> Registry:
    """The registry an entry's ``task`` or ``probe`` is checked against (imported on use: the
    probes pull in torch and scikit-learn)."""
    if field == "task":
        from audiobench.tasks import TASKS
        return TASKS
    from audiobench.choices import PROBES
    return PROBES


def _lookup(getter: Callable[[Any], Any], name: Any) -> Any:
    """A registry lookup whose one-line error becomes a validation error at this key."""
    try:
        return getter(name)
    except AudiobenchError as err:
        raise ValueError(str(err)) from None


def _one_of(value: str, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise ValueError(f"unknown {what} '{value}' (use one of {', '.join(allowed)})")
    return value


__all__ = ["Suite", "SuiteEntry", "load_suite", "read_suite", "shipped_suite_names", "shipped_suite_path"]
