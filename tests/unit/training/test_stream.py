"""The shard stream: the domain mixture, disjoint readers, exact resume, URLs and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from audiobench.audio import write_wav
from audiobench.errors import DataError
from audiobench.training.datalist import Row
from audiobench.training.shards import write_shards
from audiobench.training.stream import (MixtureDraws, ShardStream, check_source, domain_stream, resolve_sources,
                                        shard_samples)

COUNTS = {"speech": 12, "sound": 8, "music": 8}


@pytest.fixture(scope="module")
def shard_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """28 tiny clips in shards of 2: 6 speech, 4 sound and 4 music shards."""
    root = tmp_path_factory.mktemp("stream")
    rows = []
    for domain, count in COUNTS.items():
        for i in range(count):
            path = root / "clips" / f"{domain}{i}.wav"
            write_wav(path, np.full(160, 0.1, dtype=np.float32), 16_000)
            rows.append(Row(key=f"{domain}{i}", text=f"{domain} {i}", domain=domain, source=f"m:{domain}{i}",
                            audio=str(path), language="en" if domain == "speech" else None))
    write_shards(rows, root / "shards", shard_size=2)
    return root / "shards"


def key_item(key, domain, text, language, decode, problem=None) -> str:
    """Items that only say which sample they are (nothing is decoded)."""
    return text


def stream(shard_set: Path, rank: int = 0, world: int = 1, batches: int = 6) -> ShardStream:
    sources = resolve_sources([str(shard_set)])
    return ShardStream(sources, np.array([0.25, 0.25, 0.5]), ["music", "sound", "speech"], batch_size=2,
                       batches=batches, rank=rank, world=world, seed=3, sample_rate=16_000, default_language=None,
                       make_item=key_item)


def batches(dataset: ShardStream, workers: int) -> list[list[str]]:
    loader = torch.utils.data.DataLoader(dataset, batch_size=2, collate_fn=list, num_workers=workers)
    return list(loader)


def test_the_mixture_is_within_one_point_of_the_weights_over_10000_draws() -> None:
    weights = np.array([0.1, 0.1, 0.8])
    draws = np.array(list(MixtureDraws(weights, seed=0, consumer=5).draws(0, 10_000)))
    shares = np.bincount(draws, minlength=3) / 10_000
    assert np.abs(shares - weights).max() < 0.01
    assert (MixtureDraws(weights, 0, 5).counts_before(10_000) == np.bincount(draws, minlength=3)).all()


def test_readers_split_a_pass_with_no_sample_read_twice(shard_set: Path) -> None:
    speech = next(s for s in resolve_sources([str(shard_set)]) if s.domain == "speech")
    read = []
    for consumer in range(4):  # e.g. 2 ranks x 2 workers
        shards = len(range(consumer, 6, 4))
        it = domain_stream(speech, seed=3, consumer=consumer, consumers=4, skip=0)
        read += [json.loads(next(it)["json"])["text"] for _ in range(2 * shards)]
    assert sorted(read) == sorted(f"speech {i}" for i in range(12))


def test_a_restarted_stream_continues_with_the_same_batches(shard_set: Path) -> None:
    dataset = stream(shard_set)
    epoch0 = batches(dataset, workers=2)
    assert len(epoch0) == 6 and all(len(b) == 2 for b in epoch0)
    dataset.set_position(0, 3)  # a run restarted after 3 micro-batches
    assert batches(dataset, workers=2) == epoch0[3:]
    dataset.set_position(1, 0)
    epoch1 = batches(dataset, workers=2)
    dataset.set_position(1, 5)
    assert batches(dataset, workers=2) == epoch1[5:] and epoch1 != epoch0
    # Two ranks read different samples.
    ranks = [{t for b in batches(stream(shard_set, rank, 2, batches=2), workers=1) for t in b} for rank in (0, 1)]
    assert not ranks[0] & ranks[1]


def test_shards_stream_over_http(shard_set: Path, server) -> None:
    for path in shard_set.iterdir():
        if path.is_file():
            server.files[f"/set/{path.name}"] = path.read_bytes()
    sources = resolve_sources([server.url("/set")])
    assert {s.domain: s.total for s in sources} == COUNTS
    music = next(s for s in sources if s.domain == "music")
    assert music.urls[0].startswith("http://127.0.0.1")
    assert len(list(shard_samples(music.urls[0]))) == 2
    explicit = resolve_sources([f"music={server.url('/set/music-{000000..000003}.tar')}"])
    assert explicit[0].total is None and len(explicit[0].urls) == 4
    check_source(explicit[0], consumers=2)
    with pytest.raises(DataError, match="cannot open shard http://127.0.0.1.*/nothing-000000.tar"):
        check_source(resolve_sources([f"music={server.url('/nothing-{000000..000001}.tar')}"])[0], 1)
    with pytest.raises(DataError, match="cannot open http://127.0.0.1.*/elsewhere/shards.json"):
        resolve_sources([server.url("/elsewhere")])


def test_shards_stream_through_a_pipe_command(shard_set: Path) -> None:
    piped = resolve_sources([f"sound=pipe:cat {shard_set}/sound-{{000000..000003}}.tar"])[0]
    assert piped.urls[1] == f"pipe:cat {shard_set}/sound-000001.tar"
    assert [json.loads(s["json"])["domain"] for s in shard_samples(piped.urls[1])] == ["sound", "sound"]


def test_bad_shard_input_is_one_line(shard_set: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="the pattern matches no file"):
        resolve_sources([f"speech={tmp_path}/none-{{000000..000003}}.tar"])
    with pytest.raises(DataError, match="1 of 2 shards are missing"):
        resolve_sources([f"speech={shard_set}/speech-{{000005..000006}}.tar"])
    with pytest.raises(DataError, match="expected a shard folder, a .jsonl data list or DOMAIN=PATTERN"):
        resolve_sources(["noise=x.tar"])
    corrupt = tmp_path / "sound-000000.tar"
    corrupt.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(DataError, match=f"shard {corrupt} is not a readable tar"):
        check_source(resolve_sources([f"sound={corrupt}"])[0], 1)
    with pytest.raises(DataError, match="music has 4 shard\\(s\\) for 8 readers"):
        check_source(next(s for s in resolve_sources([str(shard_set)]) if s.domain == "music"), 8)
