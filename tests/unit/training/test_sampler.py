from __future__ import annotations

from collections import Counter

import pytest
import torch
from accelerate.data_loader import BatchSamplerShard

from audiobench.errors import ConfigError
from audiobench.training.sampler import MixtureSampler

WEIGHTS = {"speech": 0.8, "sound": 0.1, "music": 0.1}


def corpus(speech: int, sound: int, music: int) -> list[str]:
    return ["speech"] * speech + ["sound"] * sound + ["music"] * music


def test_domain_proportions_follow_the_weights_not_the_corpus_sizes() -> None:
    domains = corpus(300, 5000, 40)  # sizes far from 80/10/10
    sampler = MixtureSampler(domains, WEIGHTS, num_samples=10_000, seed=3)
    drawn = Counter(domains[i] for i in sampler)
    for name, weight in WEIGHTS.items():
        assert abs(drawn[name] / 10_000 - weight) < 0.01, (name, drawn)


def test_order_is_a_function_of_seed_and_epoch() -> None:
    domains = corpus(50, 20, 20)
    a, b = MixtureSampler(domains, WEIGHTS, 90, seed=1), MixtureSampler(domains, WEIGHTS, 90, seed=1)
    b.set_epoch(1)
    assert list(a) != list(b)
    a.set_epoch(1)
    assert list(a) == list(b)
    assert list(MixtureSampler(domains, WEIGHTS, 90, seed=2)) != list(MixtureSampler(domains, WEIGHTS, 90, seed=1))


def test_a_domain_repeats_nothing_before_it_is_exhausted_across_epochs() -> None:
    domains = corpus(1000, 30, 30)
    sampler = MixtureSampler(domains, WEIGHTS, num_samples=200, seed=0)
    speech = [i for epoch in range(4) for i in sampler.indices(epoch) if domains[i] == "speech"]
    assert len(speech) < 1000 and len(set(speech)) == len(speech)  # ~640 draws, all distinct
    sound = [i for epoch in range(4) for i in sampler.indices(epoch) if domains[i] == "sound"]
    passes = [sound[k:k + 30] for k in range(0, len(sound) - 29, 30)]
    assert all(sorted(p) == list(range(1000, 1030)) for p in passes)  # whole shuffled passes


def test_ranks_and_workers_see_disjoint_samples_that_cover_the_epoch() -> None:
    """accelerate deals the sampler's batches to ranks (as under Trainer); workers only load."""
    domains = corpus(64, 16, 16)
    sampler = MixtureSampler(domains, WEIGHTS, num_samples=96, seed=5)
    sampler.set_epoch(2)
    seen = []
    for rank in range(2):
        batches = BatchSamplerShard(torch.utils.data.BatchSampler(sampler, 4, drop_last=False),
                                    num_processes=2, process_index=rank)
        loader = torch.utils.data.DataLoader(list(range(len(domains))), batch_sampler=batches, num_workers=2)
        seen.append([int(i) for batch in loader for i in batch])
    order = sampler.indices(2).tolist()
    positions = [[k for k in range(96) if (k // 4) % 2 == rank] for rank in range(2)]
    assert seen == [[order[k] for k in p] for p in positions]
    assert sorted(seen[0] + seen[1]) == sorted(order)


def test_weights_that_do_not_match_the_data_are_errors() -> None:
    with pytest.raises(ConfigError, match="domain_weights.music=0.1 but the training data has no music rows"):
        MixtureSampler(corpus(5, 5, 0), WEIGHTS, 10)
    with pytest.raises(ConfigError, match="has sound rows but domain_weights gives it no weight"):
        MixtureSampler(corpus(5, 5, 5), {"speech": 1.0, "sound": 0.0, "music": 1.0}, 10)


def test_each_epoch_sets_the_sampler_epoch_however_deep_accelerate_wraps_it(monkeypatch) -> None:
    """On a multi-process resume accelerate nests the sampler deeper than the Trainer's own
    set_epoch reaches; the recipe's trainer sets it before the epoch's iterator is made."""
    from transformers import Seq2SeqTrainer

    from audiobench.training.trainer import AudioSeq2SeqTrainer

    seen = []
    monkeypatch.setattr(Seq2SeqTrainer, "_run_epoch", lambda self, *a, epoch, **k: seen.append(self.mixture_sampler.epoch))
    trainer = object.__new__(AudioSeq2SeqTrainer)  # only the epoch hook is under test
    trainer.mixture_sampler = MixtureSampler(corpus(8, 1, 1), WEIGHTS, 10, seed=0)
    trainer.train_dataset = None  # a data list run (the map-style dataset is not needed here)
    for epoch in (0, 1, 2):
        trainer._run_epoch(None, epoch=epoch, train_dataloader=None)
    assert seen == [0, 1, 2]
