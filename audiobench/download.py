"""Getting datasets onto disk: resumable HTTP downloads, sha256 verification and safe archive
extraction.

A download goes ``<root>/.downloads/<file>.part`` (appended to with HTTP Range requests after
an interruption) -> ``<root>/.downloads/<file>`` once complete -> sha256 check -> extraction
into a temporary folder inside ``<root>`` -> layout and count check -> entries moved into
place -> a record in ``<root>/audiobench-sources.json``. Archives without a published sha256
(ESC-50's GitHub archive, the Speech Commands test sets) are verified by their layout and file
count instead, and the sha256 we computed is recorded so the copy can be pinned later.

Nothing the user had is deleted on failure: a checksum mismatch leaves the archive where it
is and extracts nothing; existing entries are never overwritten. The library never prints;
progress goes to an ``on_progress(done_bytes, total_bytes_or_None)`` callback.

What to fetch (URLs, checksums, layouts) is described on the tasks that own it
(``Task.sources``); GTZAN, which has no live host, is prepared from the user's copy by
``tasks.gtzan.prepare_gtzan`` through the same safe extraction.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import stat
import tarfile
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit
from urllib.request import Request, urlopen

from audiobench.errors import DataError, DownloadError
from audiobench.files import atomic_write_text, sha256_file
from audiobench.tasks.base import Source

DOWNLOADS_DIR = ".downloads"
RECORD_FILE = "audiobench-sources.json"
CHUNK_BYTES = 1 << 20
TIMEOUT_SECONDS = 60
USER_AGENT = "audiobench (dataset download)"

Progress = Callable[[int, "int | None"], None]


@dataclass
class FetchRecord:
    """What was fetched and how it was verified; one entry of ``audiobench-sources.json``."""

    name: str
    url: str
    sha256: str
    verified_by: str  # "published sha256" | "pinned sha256" | "layout and file count"
    bytes: int
    fetched_at: str
    status: str = field(default="fetched", compare=False)  # "fetched" | "present" (not stored)


class Interrupted(Exception):
    """A transfer stopped early; the ``.part`` file keeps what arrived."""


def sources_for(task: str, only: list[str] | None = None) -> tuple[Source, ...]:
    """The archives of ``task`` (described on the task class), or the ``only`` ones named."""
    from audiobench.tasks import TASKS, get_task

    sources = get_task(task).sources
    if not sources:
        downloadable = [name for name in TASKS.names() if get_task(name).sources]
        hint = get_task(task).how_to_get or f"downloadable tasks: {', '.join(downloadable)}"
        raise DataError(f"no download source for task '{task}'", hint)
    if not only:
        return sources
    names = [s.name for s in sources]
    unknown = [n for n in only if n not in names]
    if unknown:
        raise DataError(f"unknown part(s) {', '.join(unknown)} of {task}", f"available: {', '.join(names)}")
    return tuple(s for s in sources if s.name in only)


def mirrored(url: str, mirror: str | None) -> str:
    """Replace the official scheme and host with ``mirror`` (a base URL), keeping the path."""
    if not mirror:
        return url
    parts = urlsplit(url)
    return mirror.rstrip("/") + parts.path + (f"?{parts.query}" if parts.query else "")


# ----- HTTP ------------------------------------------------------------------------------------

def download_file(url: str, dest: Path, on_progress: Progress | None = None, retries: int = 2) -> None:
    """Download ``url`` to ``dest`` through ``dest.part``, resuming a previous partial file
    with an HTTP Range request; ``retries`` more attempts resume after an interruption. An
    existing complete ``dest`` is kept as is."""
    if dest.is_file():
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    for attempt in range(retries + 1):
        try:
            transfer(url, part, on_progress)
            break
        except Interrupted as err:
            if attempt == retries:
                size = part.stat().st_size if part.exists() else 0
                raise DownloadError(f"download of {url} interrupted after {size:,} bytes ({err}); {part} keeps them",
                                    "run the same command again to resume from there") from err
            time.sleep(min(2**attempt, 10))
    os.replace(part, dest)


def transfer(url: str, part: Path, on_progress: Progress | None) -> None:
    """One HTTP request appending to (or, if the server ignores Range, rewriting) ``part``."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": USER_AGENT}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        response = urlopen(Request(url, headers=headers), timeout=TIMEOUT_SECONDS)
    except HTTPError as err:
        if err.code == 416 and have:  # the partial file already holds everything
            return
        if err.code >= 500:  # the server's trouble, usually passing: retry and resume
            raise Interrupted(f"{url}: HTTP {err.code} {err.reason}") from err
        raise DownloadError(f"{url}: HTTP {err.code} {err.reason}",
                            "check the URL or --mirror; the server refused the file") from err
    except (URLError, OSError, http.client.HTTPException) as err:
        raise Interrupted(f"cannot reach {url}: {getattr(err, 'reason', err)}") from err
    with response:
        if response.status == 206 and content_range_start(response) != have:
            part.unlink(missing_ok=True)  # a range we did not ask for: start over on the next attempt
            raise Interrupted("the server answered with a different byte range")
        resumed = response.status == 206
        done = have if resumed else 0
        length = response.headers.get("Content-Length")
        total = done + int(length) if length is not None else None
        if on_progress:
            on_progress(done, total)
        try:
            with part.open("ab" if resumed else "wb") as f:
                while chunk := response.read(CHUNK_BYTES):
                    f.write(chunk)
                    done += len(chunk)
                    if on_progress:
                        on_progress(done, total)
        except (OSError, http.client.HTTPException) as err:
            raise Interrupted(str(err) or type(err).__name__) from err
    if total is not None and done < total:
        raise Interrupted(f"the connection closed after {done:,} of {total:,} bytes")


def content_range_start(response: http.client.HTTPResponse) -> int | None:
    match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
    return int(match.group(1)) if match else None


# ----- extraction ------------------------------------------------------------------------------

def unsafe_reason(name: str, target: Path) -> str | None:
    """Why the archive member ``name`` must not be extracted into ``target``, or None."""
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "is an absolute path"
    if ".." in PurePosixPath(name.replace("\\", "/")).parts:
        return "contains '..'"
    resolved = (target / name).resolve()
    if resolved != target and target not in resolved.parents:
        return "would land outside the target directory"
    return None


def refuse(archive: Path, name: str, why: str) -> DownloadError:
    return DownloadError(f"{archive}: member '{name}' {why}; refusing to extract it",
                         "the archive is corrupt or malicious; get it from the official source")


def safe_tar_members(tar: tarfile.TarFile, archive: Path, target: Path) -> Iterator[tarfile.TarInfo]:
    for member in tar:
        if member.issym() or member.islnk():
            raise refuse(archive, member.name, "is a link")
        if not (member.isfile() or member.isdir()):
            raise refuse(archive, member.name, "is not a regular file or folder")
        why = unsafe_reason(member.name, target)
        if why:
            raise refuse(archive, member.name, why)
        yield member


def check_zip_members(zf: zipfile.ZipFile, archive: Path, target: Path) -> None:
    for info in zf.infolist():
        if stat.S_ISLNK(info.external_attr >> 16):
            raise refuse(archive, info.filename, "is a link")
        why = unsafe_reason(info.filename, target)
        if why:
            raise refuse(archive, info.filename, why)


def safe_extract(archive: Path, target: Path) -> None:
    """Extract a zip or tar(.gz/.bz2/.xz) archive into ``target`` (which should be a fresh
    folder: on a refused member extraction stops part-way). Links, devices, absolute paths,
    ``..`` and anything resolving outside ``target`` are refused."""
    target = target.resolve()
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                check_zip_members(zf, archive, target)
                zf.extractall(target)
        else:
            with tarfile.open(archive, "r:*") as tar:
                members = safe_tar_members(tar, archive, target)
                # The "data" filter is a second guard where Python has it (3.10.12+, 3.11.4+).
                extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                tar.extractall(target, members=members, **extra)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, OSError) as err:
        raise DownloadError(f"{archive} is not a readable archive ({err})",
                            "it is truncated or corrupt: delete it and download it again") from err


def content_root(extracted: Path, source: Source) -> Path:
    """The folder holding the source's layout: ``strip`` if named, else the extraction folder,
    or its single top folder when the layout is found only there."""
    if source.strip and (extracted / source.strip).is_dir():
        return extracted / source.strip
    entries = [p for p in extracted.iterdir()]
    if source.expect and not all((extracted / p).exists() for p in source.expect) \
            and len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return extracted


def check_layout(content: Path, source: Source, archive: Path) -> None:
    missing = [p for p in source.expect if not (content / p).exists()]
    if missing:
        raise DownloadError(f"{archive} does not hold the {source.name} layout: missing {', '.join(missing)}",
                            f"expected {source.layout}; check --mirror or the archive")
    if source.count:
        pattern, expected = source.count
        found = sum(1 for _ in content.glob(pattern))
        if found != expected:
            raise DownloadError(f"{archive} holds {found:,} files matching {pattern}, expected {expected:,}",
                                "the archive is incomplete or not the official one; delete it and download again")


def move_into(content: Path, dest: Path) -> None:
    """Move every entry of ``content`` into ``dest``; refuses before moving anything if an
    entry already exists there (nothing the user had is overwritten)."""
    dest.mkdir(parents=True, exist_ok=True)
    entries = sorted(content.iterdir())
    clashes = [e.name for e in entries if (dest / e.name).exists()]
    if clashes:
        raise DataError(f"{dest} already holds {', '.join(clashes[:5])}",
                        "move it away (or choose another --root) and run the command again")
    for entry in entries:
        os.replace(entry, dest / entry.name)


# ----- records ---------------------------------------------------------------------------------

def read_records(root: Path) -> dict[str, dict]:
    path = root / RECORD_FILE
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise DataError(f"{path} is not valid JSON ({err})", "delete it; the next download rewrites it") from err


def write_record(root: Path, record: FetchRecord) -> None:
    records = read_records(root)
    entry = asdict(record)
    entry.pop("status")
    records[record.name] = entry
    atomic_write_text(root / RECORD_FILE, json.dumps(records, indent=2, sort_keys=True) + "\n")


def is_present(root: Path, source: Source) -> bool:
    """Fetched before (recorded) and its layout is still there."""
    content = root / source.dest
    return source.name in read_records(root) and all((content / p).exists() for p in source.expect)


# ----- the whole fetch -------------------------------------------------------------------------

def fetch(source: Source, root: Path, mirror: str | None = None, sha256: str | None = None,
          keep_archive: bool = False, retries: int = 2, on_progress: Progress | None = None,
          on_stage: Callable[[str], None] | None = None) -> FetchRecord:
    """Download, verify and extract ``source`` under ``root``. ``sha256`` pins the archive
    (overriding the published checksum, e.g. for a mirror's repack). ``on_stage`` hears
    "verifying" and "extracting", which take minutes on the large archives."""
    root = Path(root).expanduser()
    if is_present(root, source):
        recorded = read_records(root)[source.name]
        return FetchRecord(**recorded, status="present")
    url = mirrored(source.url, mirror)
    archive = root / DOWNLOADS_DIR / PurePosixPath(urlsplit(url).path).name
    download_file(url, archive, on_progress, retries)
    if on_stage:
        on_stage("verifying")
    actual = sha256_file(archive)
    expected = (sha256 or source.sha256 or "").lower() or None
    if expected and actual != expected:
        raise DownloadError(f"{archive}: sha256 {actual} does not match the expected {expected}; "
                            "nothing was extracted or deleted",
                            f"delete {archive} and run again, check --mirror, or pass --sha256 {actual} "
                            "if you trust this copy")
    verified_by = "pinned sha256" if sha256 else "published sha256" if source.sha256 else "layout and file count"
    if on_stage:
        on_stage("extracting")
    scratch = Path(tempfile.mkdtemp(prefix=f".extract-{source.name}-", dir=root))
    try:
        safe_extract(archive, scratch)
        content = content_root(scratch, source)
        check_layout(content, source, archive)
        move_into(content, root / source.dest)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    record = FetchRecord(source.name, url, actual, verified_by, archive.stat().st_size,
                         time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    write_record(root, record)
    if not keep_archive:
        archive.unlink()
    return record
