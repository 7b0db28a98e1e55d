"""Atomic file writes: a reader (or an interrupted run) never sees half a file.

Everything is written to a temp file in the target's directory and renamed over the target.
Files get the usual shareable mode (0666 minus the umask) rather than mkstemp's 0600.
"""

from __future__ import annotations

import errno
import hashlib
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from audiobench.errors import OutputError

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


def atomic_write_bytes(path: Path, *pieces: bytes | memoryview) -> None:
    """Write ``pieces`` one after another (a header and a large array need not be joined first)."""
    with atomic_path(path) as tmp, tmp.open("wb") as f:
        for piece in pieces:
            f.write(piece)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's contents, read in 16 MiB blocks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        while block := f.read(1 << 24):
            digest.update(block)
    return digest.hexdigest()


def ensure_writable(path: Path, option: str, directory: bool = True) -> Path:
    """Fail early, in one line, when an output cannot be written, so the error comes before the
    slow work rather than after it. Writes and removes a probe file in the nearest existing
    folder on the way to ``path`` (creating nothing); ``option`` names the flag in the error."""
    path = Path(path).expanduser()
    folder = path if directory else path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        if not directory and path.is_dir():
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
        if not folder.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR))
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".audiobench-write-check.", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise OutputError(f"{option} {path}: cannot write there ({err.strerror or err})",
                          f"choose a writable {option}") from err
    return path
