"""Running a suite for one encoder: each task protocol (per input window) is embedded once (one
cache pass) for all of its entries, then every entry is probed from that embedding.

A failing entry (missing data, a layer the encoder lacks, a probe that cannot fit) does not
stop the run: its error is kept in its ``EntryOutcome`` and the next entry runs. A failure
while embedding fails every entry of that task protocol. The library never prints; progress
goes through ``progress`` as in ``audiobench.api``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from audiobench import api
from audiobench.suites import Suite, SuiteEntry, load_suite

if TYPE_CHECKING:
    from audiobench.encoders.base import Encoder
    from audiobench.results import Result


@dataclass
class EmbeddingPass:
    """The one embedding pass of a task protocol; ``embedding`` stays None when it failed."""

    protocol_id: str
    embedding: api.Embedding | None = None
    error: Exception | None = None


@dataclass
class EntryOutcome:
    """One suite entry: the results it wrote (one per layer), or the error that stopped it."""

    entry: SuiteEntry
    results: list[Result] = field(default_factory=list)
    error: Exception | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None


@dataclass
class SuiteRun:
    suite: Suite
    encoder: str
    passes: list[EmbeddingPass] = field(default_factory=list)
    outcomes: list[EntryOutcome] = field(default_factory=list)

    @property
    def failed(self) -> list[EntryOutcome]:
        return [outcome for outcome in self.outcomes if outcome.failed]

    @property
    def results(self) -> list[Result]:
        return [result for outcome in self.outcomes for result in outcome.results]


def run_suite(encoder: str | Encoder, suite: str | Path | Suite, *, tasks: Sequence[str] = (),
              data_dir: Path | str | None = None, cache_dir: Path | str | None = None,
              results_dir: Path | str | None = api.DEFAULT_RESULTS_DIR, weights: str | None = None,
              random_init: bool = False, device: str = "auto", dtype: str = "auto", batch_size: int | None = None,
              workers: int | None = None, skip_bad: bool = False, seed: int = 0, compile: bool = False,
              progress: api.Progress = api.no_progress) -> SuiteRun:
    """Run every entry of ``suite`` (a shipped name, a YAML path or a ``Suite``; only the
    entries of ``tasks`` when given) with ``encoder``. Task data is read from
    ``data_dir/<task>`` (default: ``api.default_data_root``); results are written to
    ``results_dir`` as each entry finishes."""
    suite = (suite if isinstance(suite, Suite) else load_suite(suite)).restricted(list(tasks))
    api.check_options(encoder, suite.tasks[0], device, dtype)  # the suite checked its own names
    from audiobench.encoders.description import EncoderCard

    # A recorded description (see encoders.description) until some pass must encode clips.
    model = api.describe_encoder(encoder, weights, random_init, cache_dir=cache_dir)
    run = SuiteRun(suite, model.name)
    for (task, protocol, window), entries in embedding_groups(suite).items():
        embedded = EmbeddingPass(f"{task}/{protocol}" + ("" if window == "full" else f" ({window} window)"))
        run.passes.append(embedded)
        try:
            manifest = api.load_manifest(task, protocol, Path(data_dir) / task if data_dir else None)
            embedded.embedding = api.embed(encoder if isinstance(model, EncoderCard) else model, manifest,
                                           cache_dir=cache_dir, weights=weights, random_init=random_init,
                                           device=device, dtype=dtype, batch_size=batch_size, workers=workers,
                                           skip_bad=skip_bad, window=window, compile=compile, progress=progress)
            if not isinstance(embedded.embedding.encoder, EncoderCard):  # built: the next passes reuse it
                model = embedded.embedding.encoder
        except Exception as err:  # noqa: BLE001 - reported per entry, the suite goes on
            embedded.error = err
            run.outcomes.extend(EntryOutcome(entry, error=err) for entry in entries)
            continue
        for entry in entries:
            outcome = EntryOutcome(entry)
            run.outcomes.append(outcome)
            try:
                outcome.results = api.probe_embedding(
                    embedded.embedding, probe=entry.probe, layer=entry.layer, pooling=entry.pooling, seed=seed,
                    device=device, results_dir=results_dir, random_init=random_init, progress=progress)
            except Exception as err:  # noqa: BLE001 - reported per entry, the suite goes on
                outcome.error = err
    return run


def embedding_groups(suite: Suite) -> dict[tuple[str, str, str], list[SuiteEntry]]:
    """Entries by the embedding pass they share: one per task protocol and input window (every
    pooling and layer is cached in one pass), in the suite's order."""
    groups: dict[tuple[str, str, str], list[SuiteEntry]] = {}
    for entry in suite.entries:
        groups.setdefault((entry.task, entry.protocol, entry.window), []).append(entry)
    return groups
