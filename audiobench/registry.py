"""A generic name -> object registry with lazy entries and entry-point plug-ins.

Built-ins register as ``"module:attr"`` strings, so listing names never imports torch-heavy
modules; the object is imported the first time it is asked for. Third-party packages add
entries through an entry-point group (``audiobench.encoders``, ``audiobench.tasks``), read
once, on the first lookup.
"""

from __future__ import annotations

import difflib
import importlib
from importlib import metadata
from typing import Callable, Generic, Iterator, TypeVar

from audiobench.errors import PluginError, UnknownNameError

T = TypeVar("T")


def import_object(spec: str) -> object:
    """Import ``"package.module:attr"``."""
    module_name, _, attr = spec.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attr) if attr else module


class Registry(Generic[T]):
    """Maps names to objects of one kind (``kind`` is used in error messages)."""

    def __init__(self, kind: str, entry_point_group: str | None = None, expected: type | None = None) -> None:
        self.kind = kind
        self.entry_point_group = entry_point_group
        #: What every entry must be (a plug-in registering anything else is reported as broken).
        self.expected = expected
        self._entries: dict[str, T | str] = {}
        self._entry_points_loaded = entry_point_group is None
        #: Entry points ignored because a built-in already holds their name: name -> "module:attr".
        self.shadowing: dict[str, str] = {}

    def register(self, name: str, obj: T | str | None = None) -> Callable[[T], T] | T | str:
        """Register ``obj`` (or a lazy ``"module:attr"`` string) under ``name``.

        Without ``obj`` it returns a decorator, so ``@registry.register("name")`` works.
        """
        if obj is None:
            def decorator(target: T) -> T:
                self._add(name, target)
                return target
            return decorator
        self._add(name, obj)
        return obj

    def _add(self, name: str, obj: T | str) -> None:
        existing = self._entries.get(name)
        # A lazy placeholder may be replaced by the object it points to (its module imported).
        if existing is not None and not isinstance(existing, str) and existing is not obj:
            raise ValueError(f"{self.kind} '{name}' is already registered")
        self._entries[name] = obj

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        for entry_point in metadata.entry_points(group=self.entry_point_group):
            if entry_point.name in self._entries:
                self.shadowing[entry_point.name] = entry_point.value
            else:
                self._entries[entry_point.name] = entry_point.value

    def names(self) -> list[str]:
        self._load_entry_points()
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        self._load_entry_points()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def check(self, name: str) -> None:
        """``UnknownNameError`` (with the closest name) unless ``name`` is registered; imports nothing."""
        self._load_entry_points()
        if name not in self._entries:
            close = difflib.get_close_matches(name, self._entries, n=1)
            suggestion = f"did you mean '{close[0]}'? " if close else ""
            raise UnknownNameError(
                f"unknown {self.kind} '{name}'",
                f"{suggestion}available: {', '.join(self.names())}",
            )

    def get(self, name: str) -> T:
        self.check(name)
        entry = self._entries[name]
        if isinstance(entry, str):
            try:
                entry = import_object(entry)
            except (ImportError, AttributeError) as err:  # a broken plug-in must not look like our bug
                raise PluginError(f"{self.kind} '{name}' ({entry}) cannot be imported: {err}",
                                  "reinstall or uninstall the package that provides it") from err
            if self.expected is not None and not isinstance(entry, self.expected):
                raise PluginError(f"{self.kind} '{name}' ({self._entries[name]}) registers a {type(entry).__name__}, "
                                  f"not an {self.expected.__name__}", "fix or uninstall the package that provides it")
            self._entries[name] = entry
        return entry  # type: ignore[return-value]
