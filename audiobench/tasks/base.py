"""The task contract: a data layout plus named protocols -> a ``Manifest``.

A manifest is the exact list of clips (path relative to the data root, optional excerpt,
label, group) and, for each fold of the protocol, which clips train, validate and test.
Its ``sha256`` is stamped on every result: two results are comparable only when their
protocol ids and manifest hashes match.
"""

from __future__ import annotations

import hashlib
import json
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from audiobench.errors import DataError, UnknownNameError


@dataclass(frozen=True)
class Clip:
    """One example. ``path`` is relative to the data root (POSIX separators). ``start`` and
    ``duration`` (seconds) select an excerpt of a longer file; ``group`` ties clips cut from
    one recording or spoken by one speaker, so inner validation splits never separate them."""

    path: str
    label: int
    start: float = 0.0
    duration: float | None = None
    group: str | None = None

    @property
    def id(self) -> str:
        if self.duration is None and self.start == 0.0:
            return self.path
        end = "" if self.duration is None else f"{self.start + self.duration:g}"
        return f"{self.path}#t={self.start:g},{end}"  # W3C media-fragment syntax


@dataclass(frozen=True)
class Fold:
    """Indices into ``Manifest.clips``. ``valid`` may be empty: probes then hold out
    validation data from ``train`` themselves."""

    name: str
    train: tuple[int, ...]
    valid: tuple[int, ...]
    test: tuple[int, ...]

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "valid": len(self.valid), "test": len(self.test)}


@dataclass
class Manifest:
    task: str
    protocol: str
    root: Path
    clips: list[Clip]
    label_names: list[str]
    folds: list[Fold]
    #: Clips of the tree the protocol leaves out, as (id, reason); reported, never silent.
    unused: list[tuple[str, str]] = field(default_factory=list)
    #: Clips the protocol names that the tree lacks, as ids; reported and stamped on results.
    missing: list[str] = field(default_factory=list)
    #: The protocol weights every class equally in training (probes' class-weighted loss).
    balanced: bool = False

    @property
    def protocol_id(self) -> str:
        return f"{self.task}/{self.protocol}"

    @property
    def sha256(self) -> str:
        """Hash of every (clip id, label name, role per fold): the exact experiment."""
        rows = []
        for fold in self.folds:
            for role in ("train", "valid", "test"):
                rows.extend((fold.name, role, self.clips[i].id, self.label_names[self.clips[i].label])
                            for i in getattr(fold, role))
        blob = json.dumps([self.protocol_id, sorted(rows)], separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()

    def split_sizes(self) -> dict[str, dict[str, int]]:
        return {fold.name: fold.sizes() for fold in self.folds}

    def class_counts(self, fold: Fold, role: str) -> dict[str, int]:
        counts = dict.fromkeys(self.label_names, 0)
        for i in getattr(fold, role):
            counts[self.label_names[self.clips[i].label]] += 1
        return counts


@dataclass(frozen=True)
class Protocol:
    name: str
    description: str
    #: Train as if every class were equally frequent (SUPERB keyword spotting samples so).
    balanced: bool = False


@dataclass(frozen=True)
class Source:
    """One archive of a task. ``dest`` is the folder under the task root its content goes to
    (``""``: the root itself); ``strip`` names the archive's single top folder whose content
    moves up; ``expect`` lists paths that must exist afterwards and ``count`` is a glob and
    the exact number of files it must match (the check for archives without a sha256)."""

    name: str
    url: str
    sha256: str | None
    dest: str
    layout: str
    strip: str | None = None
    expect: tuple[str, ...] = ()
    count: tuple[str, int] | None = None


class Task(ABC):
    """A dataset layout and its protocols, described as class-level metadata (MTEB-style)."""

    name: ClassVar[str]
    description: ClassVar[str]
    protocols: ClassVar[tuple[Protocol, ...]]
    homepage: ClassVar[str] = ""
    license: ClassVar[str] = ""
    #: How a user gets the data; appended to every "data missing" error.
    how_to_get: ClassVar[str] = ""
    #: The expected on-disk layout in one line; named by every "not this layout" error.
    layout: ClassVar[str] = ""
    #: The archives ``audiobench data download`` fetches (none: the data has no live host).
    sources: ClassVar[tuple[Source, ...]] = ()

    @property
    def default_protocol(self) -> str:
        return self.protocols[0].name

    def protocol_names(self) -> list[str]:
        return [p.name for p in self.protocols]

    def check_protocol(self, protocol: str | None) -> str:
        protocol = protocol or self.default_protocol
        if protocol not in self.protocol_names():
            raise UnknownNameError(f"unknown protocol '{protocol}' for task {self.name}",
                                   f"available: {', '.join(self.protocol_names())}")
        return protocol

    def manifest(self, root: Path, protocol: str | None = None) -> Manifest:
        """Read the tree at ``root`` and build the protocol's manifest."""
        protocol = self.check_protocol(protocol)
        root = Path(root).expanduser()
        if not root.is_dir():
            raise DataError(f"data root {root} for task {self.name} does not exist", self.how_to_get)
        manifest = self.build_manifest(root, protocol)
        manifest.balanced = next(p.balanced for p in self.protocols if p.name == protocol)
        return manifest

    @abstractmethod
    def build_manifest(self, root: Path, protocol: str) -> Manifest:
        """Build the manifest for a validated protocol name from an existing directory."""

    def require(self, root: Path, *relative: str) -> None:
        """Fail with one line naming the expected layout and listing what the tree lacks."""
        missing = [r for r in relative if not (root / r).exists()]
        if missing:
            raise DataError(f"{root} is not a valid {self.name} tree: missing {', '.join(missing)} "
                            f"(expected {self.layout})", self.how_to_get)


def check_files_exist(root: Path, clips: list[Clip], source: str) -> None:
    """A metadata row whose audio file is absent is one error naming the first such file and
    counting the others (a half-extracted tree can miss thousands)."""
    base = str(root)
    absent = [clip.path for clip in clips if not os.path.isfile(os.path.join(base, clip.path))]
    if absent:
        more = f" (and {len(absent) - 1:,} more)" if len(absent) > 1 else ""
        raise DataError(f"{source} lists {absent[0]}, which is missing under {root}{more}",
                        "re-download or re-extract the dataset")


class MetadataError(DataError):
    """A metadata file (CSV, list) has a bad line: names the file, the line and the field."""

    def __init__(self, path: Path, line: int, problem: str, hint: str = "use the official file") -> None:
        super().__init__(f"{path} line {line}: {problem}", hint)


def read_metadata_text(path: Path) -> str:
    """A metadata file as text. It must be UTF-8 (a byte-order mark is allowed); anything else
    is an error naming the line of the first undecodable byte."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise DataError(f"cannot read {path}: {err.strerror or err}", "check the file and its permissions") from err
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b"\n") + 1
        raise MetadataError(path, line, f"not UTF-8 text (byte 0x{data[err.start]:02x})",
                            "save the file as UTF-8, or use the official file") from err


def integer_field(path: Path, line: int, field: str, value: str, allowed: range) -> int:
    """``value`` of column ``field`` as an integer in ``allowed``, or an error naming the line."""
    try:
        number = int(value.strip())
    except (ValueError, AttributeError):
        raise MetadataError(path, line, f"field '{field}' is {value!r}, not an integer") from None
    if number not in allowed:
        raise MetadataError(path, line, f"field '{field}' is {number}, outside {allowed.start}..{allowed.stop - 1}")
    return number


def index_labels(names: list[str]) -> dict[str, int]:
    return {name: i for i, name in enumerate(names)}
