"""Streaming training data: WebDataset tar shards read front to back, never indexed.

A source is a shard set written by ``audiobench data shard`` / ``data prepare`` (a folder or
URL holding ``shards.json``: shard names and sample counts per domain) or ``DOMAIN=PATTERN``
(a brace pattern of local paths, URLs that ``fsspec`` opens such as ``s3://`` or ``https://``,
or a WebDataset ``pipe:`` command). Nothing is read before training but ``shards.json`` and
the first bytes of one shard per domain, so memory and start-up time do not grow with the
number of clips.

Every process (rank) and every DataLoader worker is one *consumer*; ``world x workers``
consumers read disjoint shards: in pass ``p`` over a domain's shards, consumer ``c`` of ``n``
reads the shards ``permutation(seed, domain, p)[c::n]``, so no sample is read twice in a pass.
A consumer draws the domain of each of its positions with ``domain_weights`` from its own
seeded generator and takes the next sample of that domain's stream. Everything is a pure
function of ``(seed, consumer, position)``: a restarted run computes how many samples of each
domain a consumer had taken (from the draws alone) and skips whole shards by their counts, so
resume is exact without re-reading the epoch. (WebDataset's own ``RandomMix`` and
``ResampledShards`` draw from an unseeded global generator, which a resume cannot reproduce.)

Rank batch ``b`` of an epoch is made by consumer slot ``b % workers`` (the DataLoader takes
batches from its workers round robin), so the batches of a rank are the same whatever point
the run restarts from.
"""

from __future__ import annotations

import itertools
import json
import tarfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch

from audiobench.errors import DataError
from audiobench.training.datalist import DOMAINS, decode_audio_bytes
from audiobench.training.shards import AUDIO_EXTENSIONS, SUMMARY, read_summary

BLOCK = 4096  # domain draws are generated in blocks, so a position's draw is cheap to recompute


@dataclass(frozen=True)
class ShardList:
    """The shards of one domain; ``samples`` per shard when ``shards.json`` gives them."""

    domain: str
    urls: tuple[str, ...]
    samples: tuple[int, ...] | None = None
    origin: str = ""

    @property
    def total(self) -> int | None:
        return sum(self.samples) if self.samples is not None else None


def is_remote(url: str) -> bool:
    return "://" in url or url.startswith("pipe:")


def open_url(url: str) -> IO[bytes]:
    """A binary stream: ``pipe:`` through WebDataset, other URLs through fsspec, paths directly."""
    if url.startswith("pipe:"):
        import webdataset as wds

        return wds.gopen(url)
    if "://" in url and not url.startswith("file://"):
        import fsspec

        return fsspec.open(url, "rb").open()
    return open(url.removeprefix("file://"), "rb")


def join_location(base: str, name: str) -> str:
    return f"{base.rstrip('/')}/{name}" if is_remote(base) else str(Path(base) / name)


def read_shard_set(location: str) -> list[ShardList]:
    """The per-domain shard lists of a folder or URL holding ``shards.json``."""
    where = join_location(location, SUMMARY)
    try:
        with open_url(where) as f:
            text = f.read().decode("utf-8")
    except (OSError, ValueError) as err:
        raise DataError(f"cannot open {where}: {err}",
                        "pass a folder written by `audiobench data shard` / `data prepare`, or DOMAIN=PATTERN") from err
    summary = read_summary(text, where)
    return [ShardList(domain, tuple(join_location(location, s["name"]) for s in entry["shards"]),
                      tuple(s["samples"] for s in entry["shards"]), origin=where)
            for domain, entry in sorted(summary["domains"].items()) if entry["shards"]]


def expand_pattern(spec: str) -> ShardList:
    """``DOMAIN=PATTERN`` -> the expanded shard list (counts unknown)."""
    from webdataset.shardlists import expand_urls

    domain, sep, pattern = spec.partition("=")
    if not sep or domain not in DOMAINS or not pattern:
        raise DataError(f"--data {spec}: expected a shard folder, a .jsonl data list or DOMAIN=PATTERN",
                        f"e.g. --data speech='shards/speech-{{000000..000099}}.tar' (domains: {', '.join(DOMAINS)})")
    urls = tuple(expand_urls(pattern))
    if not is_remote(pattern):
        missing = [u for u in urls if not Path(u).is_file()]
        if len(missing) == len(urls):
            raise DataError(f"--data {spec}: the pattern matches no file",
                            "check the path and the {000000..000099} range")
        if missing:
            raise DataError(f"--data {spec}: {len(missing)} of {len(urls)} shards are missing, e.g. {missing[0]}",
                            "fix the range or restore the files")
    return ShardList(domain, urls, None, origin=spec)


def resolve_sources(specs: Sequence[str]) -> list[ShardList]:
    """Shard lists for ``--data`` values; one list per domain."""
    lists: list[ShardList] = []
    for spec in specs:
        head, sep, _ = spec.partition("=")
        if sep and head.isidentifier():
            lists.append(expand_pattern(spec))
        else:
            lists.extend(read_shard_set(spec))
    seen = [s.domain for s in lists]
    for domain in set(seen):
        if seen.count(domain) > 1:
            raise DataError(f"--data names domain {domain} twice", "give each domain one shard set or pattern")
    return lists


def shard_samples(url: str) -> Iterator[dict[str, Any]]:
    """The samples of one tar shard, grouped by key (WebDataset's own tar iterators)."""
    from webdataset.tariterators import group_by_keys, tar_file_iterator

    try:
        stream = open_url(url)
    except (OSError, ValueError) as err:
        raise DataError(f"cannot open shard {url}: {err}", "check the URL, its credentials and the network") from err
    try:
        files = ({**member, "__url__": url} for member in tar_file_iterator(stream))
        yield from group_by_keys(files)
    except (tarfile.TarError, EOFError, ValueError) as err:
        raise DataError(f"shard {url} is not a readable tar ({err})",
                        "re-download or re-write it (`audiobench data shard` / `data prepare`)") from err
    finally:
        stream.close()


def check_source(source: ShardList, consumers: int) -> None:
    """Enough shards for every consumer, and the first shard opens as a tar with a sample."""
    if len(source.urls) < consumers:
        raise DataError(f"{source.origin}: {source.domain} has {len(source.urls)} shard(s) for {consumers} readers "
                        "(processes x DataLoader workers)",
                        "write smaller shards (--shard-size) or lower num_workers")
    if next(shard_samples(source.urls[0]), None) is None:
        raise DataError(f"shard {source.urls[0]} holds no samples", "re-write it or drop it from the pattern")


def domain_stream(source: ShardList, seed: int, consumer: int, consumers: int, skip: int) -> Iterator[dict]:
    """Consumer ``consumer``'s endless stream of ``source``'s samples, after ``skip`` of them."""
    domain = DOMAINS.index(source.domain)
    passes = 0
    while True:
        order = np.random.default_rng([seed, domain, passes]).permutation(len(source.urls))[consumer::consumers]
        produced = False
        for shard in order:
            if source.samples is not None and skip >= source.samples[shard]:
                skip -= source.samples[shard]
                produced = produced or source.samples[shard] > 0
                continue
            for sample in shard_samples(source.urls[shard]):
                produced = True
                if skip:
                    skip -= 1
                    continue
                yield sample
        if not produced:
            raise DataError(f"{source.origin}: the {source.domain} shards of reader {consumer} hold no samples",
                            "check the shards")
        passes += 1


def sample_texts(sources: Sequence[ShardList], limit: int) -> Iterator[str]:
    """Up to ``limit`` texts per domain, from the first shards (to train a small tokenizer)."""
    for source in sources:
        samples = (s for url in source.urls for s in shard_samples(url))
        for sample in itertools.islice(samples, limit):
            meta, _, problem = parse_sample(sample, source.domain)
            if problem is None:
                yield meta["text"].strip()


class MixtureDraws:
    """The domain (index into ``names``) of every position of one consumer, in blocks."""

    def __init__(self, probabilities: np.ndarray, seed: int, consumer: int) -> None:
        self.probabilities = probabilities
        self.seed = seed
        self.consumer = consumer

    def block(self, number: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, 1_000_003, self.consumer, number])
        return rng.choice(len(self.probabilities), size=BLOCK, p=self.probabilities)

    def counts_before(self, position: int) -> np.ndarray:
        """How many of the first ``position`` draws went to each domain."""
        counts = np.zeros(len(self.probabilities), dtype=np.int64)
        full, rest = divmod(position, BLOCK)
        for number in range(full):
            counts += np.bincount(self.block(number), minlength=len(counts))
        if rest:
            counts += np.bincount(self.block(full)[:rest], minlength=len(counts))
        return counts

    def draws(self, start: int, count: int) -> Iterator[int]:
        for position in range(start, start + count):
            number, offset = divmod(position, BLOCK)
            if offset == 0 or position == start:
                block = self.block(number)
            yield int(block[offset])


def parse_sample(sample: dict[str, Any], domain: str) -> tuple[dict, bytes | None, str | None]:
    """The metadata and the audio bytes of a raw sample; the third value says what is wrong."""
    try:
        meta = json.loads(sample["json"])
    except (KeyError, ValueError):
        return {}, None, "no readable .json member"
    audio = next((sample[ext] for ext in AUDIO_EXTENSIONS if ext in sample), None)
    if audio is None:
        return meta, None, "no audio member"
    if not isinstance(meta, dict) or not isinstance(meta.get("text"), str) or not meta["text"].strip():
        return {}, audio, "empty text"
    if meta.get("domain", domain) != domain:
        return meta, audio, f"domain {meta.get('domain')!r} in a {domain} shard"
    return meta, audio, None


class ShardStream(torch.utils.data.IterableDataset):
    """One rank's training items from the shard streams, ``batches`` micro-batches an epoch."""

    def __init__(self, sources: Sequence[ShardList], probabilities: np.ndarray, names: Sequence[str], *,
                 batch_size: int, batches: int, rank: int, world: int, seed: int, sample_rate: int,
                 default_language: str | None, make_item: Any) -> None:
        self.sources = {s.domain: s for s in sources}
        self.probabilities = probabilities
        self.names = list(names)
        self.batch_size = batch_size
        self.batches = batches
        self.rank = rank
        self.world = world
        self.seed = seed
        self.sample_rate = sample_rate
        self.default_language = default_language
        self.make_item = make_item
        self.epoch = 0
        self.start_batch = 0

    def __len__(self) -> int:
        return self.batches * self.batch_size

    def set_position(self, epoch: int, start_batch: int = 0) -> None:
        """Where the next iteration starts: ``start_batch`` of ``epoch`` (a resumed run)."""
        self.epoch = epoch
        self.start_batch = start_batch

    def __iter__(self) -> Iterator[dict[str, Any]]:
        info = torch.utils.data.get_worker_info()
        workers, worker = (info.num_workers, info.id) if info is not None else (1, 0)
        first = self.start_batch + worker
        if first >= self.batches:
            return
        slot = first % workers
        consumer, consumers = self.rank * workers + slot, self.world * workers
        per_epoch = len(range(slot, self.batches, workers))
        position = (self.epoch * per_epoch + first // workers) * self.batch_size
        count = len(range(first, self.batches, workers)) * self.batch_size
        draws = MixtureDraws(self.probabilities, self.seed, consumer)
        skips = draws.counts_before(position)
        streams: dict[int, Iterator[dict]] = {}
        for k in draws.draws(position, count):
            if k not in streams:
                source = self.sources[self.names[k]]
                streams[k] = domain_stream(source, self.seed, consumer, consumers, int(skips[k]))
            yield self.item(next(streams[k]), self.names[k])

    def item(self, sample: dict[str, Any], domain: str) -> dict[str, Any]:
        meta, audio, problem = parse_sample(sample, domain)
        key = f"{sample['__key__']}@{Path(sample['__url__']).name}"
        language = meta.get("language") or (self.default_language if domain == "speech" else None)
        if problem is None and domain == "speech" and not language:
            problem = "speech sample without 'language' (set default_language in the recipe)"

        def decode():
            return decode_audio_bytes(audio, self.sample_rate, key)

        return self.make_item(key, domain, meta.get("text", ""), language, decode, problem)
