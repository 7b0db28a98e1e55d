"""GTZAN: 1,000 thirty-second music excerpts, 10 genres x 100.

Layout: ``genres/<genre>/<genre>.000NN.{wav,au}`` (the common re-distribution names the folder
``genres_original``). Clip ids are ``<genre>.000NN``; a ``.wav`` is preferred over an ``.au``
of the same id. GTZAN has no live official host: ``prepare_gtzan`` puts the user's archive or
folder into that layout (``audiobench data prepare gtzan``), through the safe extraction of
``audiobench.download``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from audiobench.download import FetchRecord, safe_extract, write_record
from audiobench.errors import DataError
from audiobench.files import sha256_file
from audiobench.tasks.base import Clip, Fold, Manifest, Protocol, Task

GENRES = ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock")
CLIPS_PER_GENRE = 100
FOLDERS = ("genres", "genres_original")
EXTENSIONS = (".wav", ".au")
SPLIT_SEED = "audiobench-gtzan-v1"


def canonical_ids() -> list[str]:
    return [f"{genre}.{n:05d}" for genre in GENRES for n in range(CLIPS_PER_GENRE)]


def filtered_list(role: str) -> list[str]:
    """The Kereliuk, Sturm and Larsen (2015) fault-filtered split (443/197/290)."""
    text = resources.files("audiobench.tasks").joinpath(f"lists/gtzan_filtered_{role}.txt").read_text()
    return [line.strip() for line in text.splitlines() if line.strip()]


def hash_order(ids: list[str]) -> list[str]:
    """A seeded order that is the same on every platform and library version."""
    return sorted(ids, key=lambda clip_id: hashlib.sha256(f"{SPLIT_SEED}:{clip_id}".encode()).hexdigest())


class GTZAN(Task):
    name = "gtzan"
    description = "GTZAN music genre classification (10 genres, 30 s clips)"
    protocols = (
        Protocol("filtered", "fault-filtered split (Kereliuk et al. 2015): 443 train / 197 valid / 290 test"),
        Protocol("paper", "Whisper-AuT paper: stratified random 80/20 of all clips, fixed seed"),
        Protocol("10fold", "stratified 10-fold cross-validation over all clips, fixed seed"),
    )
    homepage = "https://www.tensorflow.org/datasets/catalog/gtzan"
    license = "research use only"
    how_to_get = ("GTZAN has no live official host: run `audiobench data prepare gtzan --from ARCHIVE_OR_DIR` "
                  "with your copy")
    layout = "genres/<genre>/<genre>.000NN.wav (or .au), or the same under genres_original/"

    def find_files(self, root: Path) -> dict[str, str]:
        """Clip id -> path relative to ``root``."""
        base = next((root / f for f in FOLDERS if (root / f).is_dir()), None)
        if base is None:
            raise DataError(f"{root} is not a valid gtzan tree: missing genres/ (or genres_original/) "
                            f"(expected {self.layout})", self.how_to_get)
        found: dict[str, str] = {}
        for genre in GENRES:
            folder = base / genre
            if not folder.is_dir():
                continue
            for path in sorted(folder.iterdir(), key=lambda p: (p.stem, EXTENSIONS.index(p.suffix)
                                                                   if p.suffix in EXTENSIONS else 99)):
                if path.suffix in EXTENSIONS and path.stem.startswith(f"{genre}.") and path.stem not in found:
                    found[path.stem] = path.relative_to(root).as_posix()
        if not found:
            raise DataError(f"{base} holds no gtzan clips (expected {self.layout})", self.how_to_get)
        return found

    def build_manifest(self, root: Path, protocol: str) -> Manifest:
        files = self.find_files(root)
        if protocol == "filtered":
            roles = {role: filtered_list(role) for role in ("train", "valid", "test")}
        else:
            roles = {"all": canonical_ids()}
        wanted = [clip_id for ids in roles.values() for clip_id in ids]
        present = [clip_id for clip_id in wanted if clip_id in files]
        index = {clip_id: i for i, clip_id in enumerate(present)}
        clips = [Clip(files[c], GENRES.index(c.split(".")[0])) for c in present]
        missing = [c for c in wanted if c not in files]
        unused = [(files[c], f"not in the {protocol} protocol") for c in sorted(set(files) - set(wanted))]
        if protocol == "filtered":
            folds = [Fold("filtered", *(tuple(index[c] for c in roles[r] if c in index)
                                        for r in ("train", "valid", "test")))]
        else:
            folds = stratified_folds(present, index, 5 if protocol == "paper" else 10)
            if protocol == "paper":
                folds = [Fold("paper", folds[0].train, (), folds[0].test)]
        return Manifest(self.name, protocol, root, clips, list(GENRES), folds, unused=unused, missing=missing)


def fold_of_clip(n_folds: int) -> dict[str, int]:
    """Canonical clip id -> fold: each genre's 100 canonical ids, in seeded order, dealt
    round-robin. Computed over the canonical ids, not the files present, so a missing or
    deleted file never moves another clip to a different fold."""
    return {clip_id: rank % n_folds for genre in GENRES
            for rank, clip_id in enumerate(hash_order([c for c in canonical_ids() if c.startswith(f"{genre}.")]))}


def stratified_folds(ids: list[str], index: dict[str, int], n_folds: int) -> list[Fold]:
    """Fold k tests on its share of ``ids`` and trains on the rest (n_folds=5 gives the 80/20
    split); a complete tree has the same number of clips of each genre in every fold."""
    fold_of = fold_of_clip(n_folds)
    return [Fold(f"fold{k + 1}", tuple(index[c] for c in ids if fold_of[c] != k), (),
                 tuple(index[c] for c in ids if fold_of[c] == k)) for k in range(n_folds)]


# ----------------------------------------------------------------------------- the user's copy

@dataclass
class PrepareReport:
    dest: Path
    action: str  # "extracted" | "copied" | "already in place"
    per_genre: dict[str, int]
    extensions: dict[str, int]
    unreadable: list[tuple[str, str]]
    sha256: str | None = None

    @property
    def clips(self) -> int:
        return sum(self.per_genre.values())


def find_genres_folder(search: Path) -> Path | None:
    """``search`` itself when it is (or directly holds) the genre folders, else the shallowest
    ``genres/`` or ``genres_original/`` up to three levels down (archives wrap it: ``Data/``)."""
    if search.name in FOLDERS or any((search / g).is_dir() for g in GENRES):
        return search
    for pattern in ("*", "*/*", "*/*/*"):
        found = sorted(p for p in search.glob(pattern) if p.name in FOLDERS and p.is_dir())
        if found:
            return found[0]
    return None


def link_or_copy(src: Path, dst: Path) -> None:
    """Hard-link when on the same filesystem (no extra space), else copy."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def stage_audio(folder: Path, staged: Path) -> None:
    """Copy the ``<genre>/<genre>.NNNNN.{wav,au}`` files of ``folder`` into ``staged``."""
    for genre in GENRES:
        if not (folder / genre).is_dir():
            continue
        (staged / genre).mkdir(parents=True)
        for path in sorted((folder / genre).iterdir()):
            if path.suffix in EXTENSIONS and path.name.startswith(f"{genre}.") and path.is_file():
                link_or_copy(path, staged / genre / path.name)


def prepare_gtzan(source: Path, root: Path) -> PrepareReport:
    """Put the user's GTZAN copy (a .tar.gz/.zip archive or a folder holding ``genres/`` or
    ``genres_original/``, .wav or .au) at ``<root>/genres*/`` and check every file decodes."""
    # Imported here, not with the module: every CLI start loads this module (the data commands)
    # and libsndfile's import is 0.12 s of a 0.8 s cache-hit `embed`.
    import soundfile as sf

    source, root = Path(source).expanduser(), Path(root).expanduser()
    if not source.exists():
        raise DataError(f"--from {source} does not exist", GTZAN.how_to_get)
    root.mkdir(parents=True, exist_ok=True)
    sha256 = sha256_file(source) if source.is_file() else None
    scratch = Path(tempfile.mkdtemp(prefix=".prepare-gtzan-", dir=root))
    try:
        if source.is_file():
            safe_extract(source, scratch / "archive")
            found, action = find_genres_folder(scratch / "archive"), "extracted"
        else:
            found, action = find_genres_folder(source), "copied"
        if found is None:
            raise DataError(f"{source} holds no genres/ or genres_original/ folder",
                            "expected <genre>/<genre>.000NN.wav (or .au) files under genres/ or genres_original/")
        name = found.name if found.name in FOLDERS else FOLDERS[0]
        dest = root / name
        if dest.resolve() == found.resolve():
            action = "already in place"
        else:
            if dest.exists():
                raise DataError(f"{dest} already exists", "move it away or choose another --root")
            stage_audio(found, scratch / name)
            GTZAN().find_files(scratch)  # raises on a wrong layout before anything reaches the root
            os.replace(scratch / name, dest)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    files = GTZAN().find_files(root)
    per_genre: dict[str, int] = {}
    extensions: dict[str, int] = {}
    unreadable = []
    for clip_id, rel in files.items():
        per_genre[clip_id.split(".")[0]] = per_genre.get(clip_id.split(".")[0], 0) + 1
        suffix = Path(rel).suffix
        extensions[suffix] = extensions.get(suffix, 0) + 1
        try:
            sf.info(str(root / rel))
        except (sf.LibsndfileError, RuntimeError) as err:
            unreadable.append((rel, str(err).strip()))
    if sha256:
        write_record(root, FetchRecord("gtzan", str(source.resolve()), sha256, "user copy (no published sha256)",
                                       source.stat().st_size, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())))
    return PrepareReport(dest, action, per_genre, extensions, unreadable, sha256)
