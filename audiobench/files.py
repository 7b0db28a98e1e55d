"""Atomic file writes: a reader (or an interrupted run) never sees half a file.

Everything is written to a temp file in the target's directory and renamed over the target.
Files get the usual shareable mode (0666 minus the umask) rather than mkstemp's 0600.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

UMASK = os.umask(0o022)
os.umask(UMASK)


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yields a temp path beside ``path``; once the block succeeds it replaces ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~UMASK)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's contents, read in 16 MiB blocks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        while block := f.read(1 << 24):
            digest.update(block)
    return digest.hexdigest()
