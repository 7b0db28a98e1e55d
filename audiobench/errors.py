"""One exception family. Every error a user can cause says what is wrong and how to fix it.

The CLI turns these into a single line on stderr and exit code 2; anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations


class AudiobenchError(Exception):
    """Base of every user-facing error: ``message`` names the culprit, ``hint`` the fix."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class UnknownNameError(AudiobenchError):
    """A registry lookup failed (encoder, task, protocol, probe...)."""


class PluginError(AudiobenchError):
    """A registered plug-in (entry point) cannot be imported."""


class ConfigError(AudiobenchError):
    """A bad option value, recipe key or configuration file."""


class DataError(AudiobenchError):
    """A data tree is missing, incomplete or not in the expected layout."""


class AudioReadError(DataError):
    """One audio file could not be decoded or holds no samples."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"cannot read audio file {path}: {reason}",
                         "replace or delete the file, or pass --skip-bad to skip unreadable clips")
        self.path = path
        self.reason = reason


class DownloadError(AudiobenchError):
    """A download failed or its checksum did not match."""


class OutputError(AudiobenchError):
    """An output path cannot be written (checked before slow work starts)."""


class ExtractionError(AudiobenchError):
    """Encoding stopped for a reason outside the data (a decoding worker died)."""


class CacheError(AudiobenchError):
    """Embeddings are missing from the cache or a cache file is corrupt."""


class ResultsError(AudiobenchError):
    """A result file is corrupt, foreign, or results cannot be compared."""
