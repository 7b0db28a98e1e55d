"""Readers for the corpora people download, in their own layouts, to training rows.

``audiobench data prepare CORPUS --from DIR --out OUT`` reads one of these, then writes shards
and a data list. Each reader returns ``Row``s (audio path, text, domain,
language) and the entries whose audio is not on disk (listed, never silently dropped):

* ``librispeech``: ``LibriSpeech/<split>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt``
  (``ID TRANSCRIPT`` lines) beside ``ID.flac``; English speech.
* ``commonvoice``: a locale folder of a ``cv-corpus-*`` release: ``<split>.tsv`` (columns
  ``path``, ``sentence``, ``locale``) and ``clips/*.mp3``; speech in the locale's language
  (``pt-BR`` -> ``pt``).
* ``audiocaps``: ``train.csv`` / ``val.csv`` / ``test.csv`` (``audiocap_id, youtube_id,
  start_time, caption``) and a folder of the clips you downloaded (``--audio``), named by
  ``audiocap_id``, ``youtube_id``, ``Y<youtube_id>`` or ``<youtube_id>_<start_time>``; sound.
* ``clotho``: ``clotho_captions_<split>.csv`` (``file_name, caption_1..caption_5``: one row per
  caption) and the split's audio folder (``<split>/`` or ``clotho_audio_<split>/``); sound.
* ``wavcaps``: ``json_files/<source>/*.json`` (``{"data": [{"id", "caption", ...}]}``) and the
  sources' extracted audio (``<source>/<id>.flac``) anywhere under the folder; sound.
* ``musiccaps``: ``musiccaps-public.csv`` (``ytid, start_s, end_s, ..., caption``) and the
  clips you downloaded (``--audio``), named ``<ytid>``, ``<ytid>_<start_s>``,
  ``<ytid>_<start_s>-<end_s>`` or ``[<ytid>]-[<start_s>-<end_s>]``; music.
* ``songdescriber``: ``song_describer.csv`` (``caption, path``) and ``audio/<path>`` (the
  release names the files ``*.2min.mp3``); music.
* ``labels``: any labelled classification set (FSD50K, AudioSet clips, ESC-50, ...): a CSV
  (``--csv``) with a file column and a label column (several labels separated by commas),
  captions built from the labels with ``CAPTION_TEMPLATES``, one template per clip drawn with
  the seed: ``Electric_guitar,Music`` -> "a recording of electric guitar and music".
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from audiobench.errors import ConfigError, DataError
from audiobench.training.datalist import Row

AUDIO_SUFFIXES = (".flac", ".wav", ".mp3", ".ogg", ".opus", ".m4a", ".aiff", ".au")
CAPTION_TEMPLATES = (
    "the sound of {labels}",
    "{labels} can be heard",
    "a recording of {labels}",
    "an audio clip of {labels}",
    "this clip contains {labels}",
    "you can hear {labels}",
)


@dataclass
class CorpusOptions:
    """What a reader may need besides the corpus folder."""

    split: str | None = None
    audio: Path | None = None
    csv: Path | None = None
    file_column: str = "fname"
    label_column: str = "labels"
    domain: str = "sound"
    seed: int = 0


@dataclass
class CorpusRows:
    rows: list[Row]
    missing: list[str] = field(default_factory=list)  # entries whose audio is not on disk

    def add(self, audio: Path | None, text: str, domain: str, source: str, language: str | None = None) -> None:
        if audio is None or not text.strip():
            self.missing.append(source)
        else:
            self.rows.append(Row(key=source, text=" ".join(text.split()), domain=domain, source=source,
                                 audio=str(audio), language=language))


def layout_error(corpus: str, root: Path, expected: str) -> DataError:
    return DataError(f"{root} is not in the {corpus} layout: no {expected}",
                     f"pass the folder that holds {expected} (see `audiobench data prepare --help`)")


def read_csv(path: Path, columns: Iterable[str], delimiter: str = ",") -> list[dict[str, str]]:
    """Rows of a CSV/TSV that must have ``columns``."""
    with path.open(encoding="utf-8", newline="") as f:
        # Common Voice's TSV quotes nothing: a sentence may hold a bare '"'.
        quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
        reader = csv.DictReader(f, delimiter=delimiter, quoting=quoting)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"{path}: no column {missing[0]!r} (has {', '.join(reader.fieldnames or [])})",
                            "pass the corpus's own file, unmodified")
        return list(reader)


def audio_index(folder: Path) -> dict[str, Path]:
    """Audio files under ``folder`` by file name without extension (and with it)."""
    index: dict[str, Path] = {}
    for path in folder.rglob("*"):
        if path.suffix.lower() in AUDIO_SUFFIXES and path.is_file():
            index.setdefault(path.stem, path)
            index.setdefault(path.name, path)
    return index


def first_found(index: dict[str, Path], names: Iterable[str]) -> Path | None:
    return next((index[n] for n in names if n in index), None)


def librispeech(root: Path, options: CorpusOptions) -> CorpusRows:
    base = root / options.split if options.split else root
    transcripts = sorted(base.rglob("*.trans.txt"))
    if not transcripts:
        raise layout_error("librispeech", base, "<split>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt")
    out = CorpusRows([])
    for transcript in transcripts:
        for number, line in enumerate(transcript.read_text(encoding="utf-8").splitlines(), start=1):
            utterance, _, text = line.strip().partition(" ")
            if not utterance:
                continue
            audio = transcript.parent / f"{utterance}.flac"
            out.add(audio if audio.is_file() else None, text, "speech", f"{transcript}:{number}", "en")
    return out


def commonvoice(root: Path, options: CorpusOptions) -> CorpusRows:
    split = options.split or "train"
    table = root / f"{split}.tsv"
    if not table.is_file() or not (root / "clips").is_dir():
        raise layout_error("commonvoice", root, f"{split}.tsv and clips/ (a locale folder of cv-corpus-*)")
    out = CorpusRows([])
    for number, entry in enumerate(read_csv(table, ("path", "sentence"), delimiter="\t"), start=2):
        locale = entry.get("locale") or root.name
        audio = root / "clips" / entry["path"]
        out.add(audio if audio.is_file() else None, entry["sentence"], "speech", f"{table}:{number}",
                locale.split("-")[0].lower())
    return out


def audiocaps(root: Path, options: CorpusOptions) -> CorpusRows:
    split = options.split or "train"
    table = root / f"{split}.csv"
    if not table.is_file():
        raise layout_error("audiocaps", root, f"{split}.csv (audiocap_id, youtube_id, start_time, caption)")
    index = audio_index(options.audio or root)
    out = CorpusRows([])
    for number, entry in enumerate(read_csv(table, ("audiocap_id", "youtube_id", "start_time", "caption")), start=2):
        ytid, start = entry["youtube_id"], entry["start_time"]
        audio = first_found(index, (entry["audiocap_id"], ytid, f"Y{ytid}", f"{ytid}_{start}"))
        out.add(audio, entry["caption"], "sound", f"{table}:{number}")
    return out


def clotho(root: Path, options: CorpusOptions) -> CorpusRows:
    split = options.split or "development"
    table = root / f"clotho_captions_{split}.csv"
    folders = [f for f in (root / split, root / f"clotho_audio_{split}") if f.is_dir()]
    if not table.is_file() or not folders:
        raise layout_error("clotho", root, f"clotho_captions_{split}.csv and {split}/ (its audio)")
    index = {k: v for folder in folders for k, v in audio_index(folder).items()}
    captions = [f"caption_{i}" for i in range(1, 6)]
    out = CorpusRows([])
    for number, entry in enumerate(read_csv(table, ("file_name", *captions)), start=2):
        audio = index.get(entry["file_name"])
        source = f"{table}:{number}"
        if audio is None:
            out.missing.append(source)
            continue
        for caption in captions:
            out.add(audio, entry[caption], "sound", f"{source}:{caption}")
    return out


def wavcaps(root: Path, options: CorpusOptions) -> CorpusRows:
    tables = sorted((root / "json_files").rglob("*.json")) if (root / "json_files").is_dir() else []
    if not tables:
        raise layout_error("wavcaps", root, "json_files/<source>/*.json")
    index = audio_index(root)
    out = CorpusRows([])
    for table in tables:
        try:
            entries = json.loads(table.read_text(encoding="utf-8"))["data"]
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise DataError(f"{table}: not a WavCaps file ({err})", "pass the json_files/ of the release") from err
        for number, entry in enumerate(entries):
            name = str(entry.get("id", ""))
            audio = first_found(index, (Path(name).stem, name))
            caption = entry.get("caption")
            out.add(audio, caption if isinstance(caption, str) else "", "sound", f"{table}#{number}")
    return out


def musiccaps(root: Path, options: CorpusOptions) -> CorpusRows:
    table = root / "musiccaps-public.csv"
    if not table.is_file():
        raise layout_error("musiccaps", root, "musiccaps-public.csv")
    index = audio_index(options.audio or root)
    out = CorpusRows([])
    for number, entry in enumerate(read_csv(table, ("ytid", "start_s", "end_s", "caption")), start=2):
        ytid, start, end = entry["ytid"], entry["start_s"], entry["end_s"]
        audio = first_found(index, (ytid, f"{ytid}_{start}", f"{ytid}_{start}-{end}", f"[{ytid}]-[{start}-{end}]"))
        out.add(audio, entry["caption"], "music", f"{table}:{number}")
    return out


def songdescriber(root: Path, options: CorpusOptions) -> CorpusRows:
    table = root / "song_describer.csv"
    if not table.is_file() or not (root / "audio").is_dir():
        raise layout_error("songdescriber", root, "song_describer.csv and audio/")
    out = CorpusRows([])
    for number, entry in enumerate(read_csv(table, ("caption", "path")), start=2):
        relative = Path(entry["path"])
        candidates = (root / "audio" / relative, root / "audio" / relative.with_suffix(".2min.mp3"))
        audio = next((c for c in candidates if c.is_file()), None)
        out.add(audio, entry["caption"], "music", f"{table}:{number}")
    return out


def label_caption(labels: list[str], seed: int, key: str) -> str:
    """A caption from class labels: a template drawn with ``(seed, key)``, labels in words."""
    words = [label.replace("_", " ").strip().lower() for label in labels]
    joined = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return CAPTION_TEMPLATES[int.from_bytes(digest[:8], "little") % len(CAPTION_TEMPLATES)].format(labels=joined)


def labels(root: Path, options: CorpusOptions) -> CorpusRows:
    table = options.csv or root / "labels.csv"
    if not table.is_file():
        raise layout_error("labels", root, f"{table.name} (or pass --csv with a file and a label column)")
    if options.domain not in ("sound", "music"):
        raise ConfigError(f"--domain {options.domain}: a labelled set is captioned", "use --domain sound or music")
    index = audio_index(options.audio or root)
    out = CorpusRows([])
    for number, entry in enumerate(read_csv(table, (options.file_column, options.label_column)), start=2):
        name = entry[options.file_column]
        audio = first_found(index, (name, Path(name).stem))
        source = f"{table}:{number}"
        tags = [t for t in entry[options.label_column].split(",") if t.strip()]
        out.add(audio, label_caption(tags, options.seed, source) if tags else "", options.domain, source)
    return out


CORPORA: dict[str, Callable[[Path, CorpusOptions], CorpusRows]] = {
    "librispeech": librispeech, "commonvoice": commonvoice, "audiocaps": audiocaps, "clotho": clotho,
    "wavcaps": wavcaps, "musiccaps": musiccaps, "songdescriber": songdescriber, "labels": labels,
}


def read_corpus(name: str, root: Path, options: CorpusOptions) -> CorpusRows:
    if name not in CORPORA:
        raise ConfigError(f"unknown corpus '{name}'", f"use one of {', '.join(CORPORA)}")
    if not root.is_dir():
        raise DataError(f"--from {root}: no such folder", f"pass the folder of your {name} download")
    found = CORPORA[name](root, options)
    if not found.rows:
        raise DataError(f"{root}: no {name} clip with its audio on disk ({len(found.missing)} entries without audio)",
                        "check --from and --audio")
    return found


def prepare_corpus(name: str, root: Path, out: Path, options: CorpusOptions, shard_size: int = 1000,
                   workers: int = 1, advance: Callable[[int], None] | None = None,
                   on_rows: Callable[[int], None] | None = None, pcm16k: bool = False) -> dict:
    """Read a corpus and write its data list ``OUT/manifest.jsonl`` (loose files, for small runs;
    the name earlier releases wrote, which their commands point at), the shards with
    ``OUT/shards.json`` (streaming) and ``OUT/missing.txt`` (entries without audio).
    Resumes an interrupted run; ``on_rows(n)`` is told how many rows will be written."""
    from audiobench.files import atomic_write_text
    from audiobench.training.shards import SUMMARY, write_shards

    if (out / SUMMARY).exists():
        raise DataError(f"{out} already holds a prepared set", "pass a new --out folder, or delete it to redo it")
    found = read_corpus(name, root, options)
    if on_rows is not None:
        on_rows(len(found.rows))
    out.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"audio": r.audio, "text": r.text, "domain": r.domain, "language": r.language,
                         "source": r.source}, ensure_ascii=False) for r in found.rows]
    atomic_write_text(out / "manifest.jsonl", "\n".join(lines) + "\n")
    atomic_write_text(out / "missing.txt", "".join(f"{m}\n" for m in found.missing))
    info = {"corpus": name, "from": str(root), "split": options.split, "missing_audio": len(found.missing)}
    return write_shards(found.rows, out, shard_size, workers=workers, seed=options.seed, info=info, advance=advance,
                        pcm16k=pcm16k)


def shard_set_info(folder: Path) -> dict:
    """Clips, hours and domain of a prepared or sharded set (its ``shards.json``)."""
    from audiobench.training.shards import SUMMARY, read_summary

    if not (folder / SUMMARY).is_file():
        raise DataError(f"{folder} has no {SUMMARY}",
                        "pass a folder written by `audiobench data prepare` or `data shard` "
                        "(an unfinished one lacks it)")
    summary = read_summary((folder / SUMMARY).read_text(), str(folder / SUMMARY))
    return {"folder": str(folder), "corpus": summary.get("corpus") or summary.get("source"),
            "clips": summary["samples"], "hours": summary["hours"],
            "domains": {d: {"clips": e["samples"], "hours": e["hours"], "shards": len(e["shards"])}
                        for d, e in summary["domains"].items()},
            "skipped": len(summary["skipped"]), "missing_audio": summary.get("missing_audio", 0)}
