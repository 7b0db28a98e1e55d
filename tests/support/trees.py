"""Small copies of the synthetic trees, for tests that must run the CLI on a few clips."""

from __future__ import annotations

from pathlib import Path


def small_esc50(source: Path, root: Path, clips: int) -> Path:
    """The first ``clips`` rows of the synthetic ESC-50 tree at ``source``, copied to ``root``."""
    rows = (source / "meta" / "esc50.csv").read_text().splitlines()[: clips + 1]
    (root / "meta").mkdir(parents=True)
    (root / "audio").mkdir()
    (root / "meta" / "esc50.csv").write_text("\n".join(rows) + "\n")
    for row in rows[1:]:
        name = row.split(",")[0]
        (root / "audio" / name).write_bytes((source / "audio" / name).read_bytes())
    return root
