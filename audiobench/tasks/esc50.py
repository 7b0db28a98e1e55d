"""ESC-50: 2,000 five-second environmental recordings, 50 classes, 5 prearranged folds.

Layout: ``audio/{fold}-{src_file}-{take}-{target}.wav`` and ``meta/esc50.csv``
(``filename,fold,target,category,esc10,src_file,take``); the CSV is the source of truth.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from audiobench.errors import DataError
from audiobench.tasks.base import (Clip, Fold, Manifest, MetadataError, Protocol, Source, Task, check_files_exist,
                                   integer_field, read_metadata_text)

CSV_PATH = "meta/esc50.csv"
ARCHIVE_FOLDER = "ESC-50-master"  # what the GitHub archive extracts to
COLUMNS = ("filename", "fold", "target", "category", "src_file")
FOLDS = range(1, 6)
CLASSES = range(50)  # targets 0-49


class ESC50(Task):
    name = "esc50"
    description = "ESC-50 environmental sound classification (50 classes, 5 s clips)"
    protocols = (
        Protocol("5fold", "leave-one-fold-out over the CSV's 5 folds; mean and std over test folds"),
        Protocol("paper", "Whisper-AuT paper: folds 1-4 train, fold 5 test"),
    )
    homepage = "https://github.com/karolpiczak/ESC-50"
    license = "CC BY-NC 3.0"
    how_to_get = "run `audiobench data download esc50` or point --data-root at the extracted ESC-50-master"
    layout = "audio/<fold>-<src_file>-<take>-<target>.wav and meta/esc50.csv"
    # GitHub's archive of the repository: no published sha256, checked by layout and count.
    sources = (Source("esc50", "https://github.com/karolpiczak/ESC-50/archive/master.zip", None, "",
                      f"audio/*.wav and meta/esc50.csv (the archive's {ARCHIVE_FOLDER}/ moved up)",
                      strip=ARCHIVE_FOLDER, expect=(CSV_PATH, "audio"), count=("audio/*.wav", 2000)),)

    def build_manifest(self, root: Path, protocol: str) -> Manifest:
        if not (root / CSV_PATH).exists() and (root / ARCHIVE_FOLDER / CSV_PATH).exists():
            raise DataError(f"{root} holds the unextracted GitHub folder {ARCHIVE_FOLDER}/",
                            f"use --data-root {root / ARCHIVE_FOLDER}")
        self.require(root, CSV_PATH, "audio")
        rows = read_rows(root / CSV_PATH)
        targets = sorted({row.target for row in rows})
        category = {row.target: row.category for row in rows}
        label_of = {t: i for i, t in enumerate(targets)}
        clips = [Clip(f"audio/{row.filename}", label_of[row.target], group=row.src_file) for row in rows]
        check_files_exist(root, clips, str(root / CSV_PATH))
        fold_of = [row.fold for row in rows]
        folds_present = sorted(set(fold_of))

        def split(test_fold: int) -> Fold:
            train = tuple(i for i, f in enumerate(fold_of) if f != test_fold)
            test = tuple(i for i, f in enumerate(fold_of) if f == test_fold)
            return Fold(f"fold{test_fold}", train, (), test)

        if protocol == "paper":
            if 5 not in folds_present:
                raise DataError(f"{root / CSV_PATH} has no fold 5, which the paper protocol tests on",
                                "use the official esc50.csv")
            folds = [split(5)]
        else:
            folds = [split(f) for f in folds_present]
        return Manifest(self.name, protocol, root, clips, [category[t] for t in targets], folds)


@dataclass(frozen=True)
class MetadataRow:
    """One row of meta/esc50.csv."""

    filename: str
    fold: int
    target: int
    category: str
    src_file: str


def read_rows(path: Path) -> list[MetadataRow]:
    """The CSV's rows, validated: integer fold (1-5) and target (0-49), one category per
    target, every file listed once. A bad row is an error naming its line and field."""
    reader = csv.DictReader(io.StringIO(read_metadata_text(path), newline=""))
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise DataError(f"{path} lacks column(s) {', '.join(missing)}", "use the official meta/esc50.csv")
    rows: list[MetadataRow] = []
    first_line: dict[str, tuple[int, int]] = {}
    category_line: dict[int, tuple[str, int]] = {}
    for record in reader:
        line = reader.line_num
        if None in record or None in record.values():
            many = "more" if None in record else "fewer"
            raise MetadataError(path, line, f"{many} fields than the header's {len(reader.fieldnames)}")
        row = MetadataRow(record["filename"].strip(), integer_field(path, line, "fold", record["fold"], FOLDS),
                          integer_field(path, line, "target", record["target"], CLASSES), record["category"].strip(),
                          record["src_file"].strip())
        if row.filename in ("", ".", "..") or any(c in row.filename for c in "/\\\0"):
            raise MetadataError(path, line, f"field 'filename' is {row.filename!r}, not a file name in audio/")
        if row.filename in first_line:
            earlier, fold = first_line[row.filename]
            where = "again" if fold == row.fold else f"in fold {row.fold}, and in fold {fold}"
            raise MetadataError(path, line, f"field 'filename': {row.filename} is listed {where} on line {earlier}",
                                "list each clip once, in one fold")
        named, named_line = category_line.setdefault(row.target, (row.category, line))
        if named != row.category:
            raise MetadataError(path, line, f"field 'category': target {row.target} is '{row.category}' here "
                                f"but '{named}' on line {named_line}")
        first_line[row.filename] = (line, row.fold)
        rows.append(row)
    if not rows:
        raise DataError(f"{path} has no rows", "use the official meta/esc50.csv")
    return rows
