"""A suite's leaderboard: exactly its columns, the results its entries select, the rows of its
reference files, and each measured score's difference to the published one."""

from __future__ import annotations

from collections.abc import Sequence

from audiobench.errors import ResultsError
from audiobench.leaderboard import Entry, Leaderboard, build_leaderboard
from audiobench.suites import Suite


def suite_entries(suite: Suite, entries: Sequence[Entry]) -> list[Entry]:
    """The results some entry of ``suite`` selects (any encoder), and the rows of the suite's
    own reference files on its protocols; everything else is left out."""
    references = {path.resolve() for path in suite.reference_paths()}
    protocols = set(suite.protocol_ids)
    return [entry for entry in entries
            if (suite.selects(entry.result) if entry.result is not None
                else entry.path.resolve() in references and entry.protocol_id in protocols)]


def suite_board(suite: Suite, entries: Sequence[Entry], baseline: str | None = None,
                force: bool = False) -> Leaderboard:
    """Entries read from result directories and the suite's reference files (pass both) as
    the suite's leaderboard; deltas are against the reference rows unless ``baseline`` is set."""
    selected = suite_entries(suite, entries)
    if not any(entry.measured for entry in selected):
        raise ResultsError(f"no results of suite {suite.name} among the inputs",
                           f"run `audiobench run --encoder E --suite {suite.name}` first, or pass its results "
                           "directory")
    return build_leaderboard(selected, baseline=baseline, force=force, with_reference=True,
                             protocols=suite.protocol_ids, reference_deltas=True)
