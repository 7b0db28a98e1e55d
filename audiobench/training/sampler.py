"""The domain mixture: which clip is the n-th training sample of an epoch.

Each position of an epoch draws its domain with the configured weights (paper: speech 0.8,
sound 0.1, music 0.1), whatever the domains' sizes. Inside a domain, clips come from an endless
stream of shuffled passes over that domain: no clip repeats before every clip of its domain has
been drawn, and an epoch continues the stream where the previous epoch stopped, so a
down-weighted domain is eventually seen in full and an up-weighted one is reshuffled each time
it runs out.

The order is a pure function of (seed, epoch), so any process can rebuild it. The sampler
yields the global order; ``accelerate`` (under ``Trainer``) deals its batches round-robin to
the ranks and DataLoader workers only receive indices from it, so ranks and workers never share
a sample. Its whole state is (seed, epoch), so resume is exact: the trainer saves the epoch in
its checkpoint, calls ``set_epoch`` on restart and skips the batches already done.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from audiobench.errors import ConfigError


class MixtureSampler(torch.utils.data.Sampler[int]):
    """Indices into a dataset whose rows have ``domains[i]``; ``num_samples`` per epoch."""

    def __init__(self, domains: Sequence[str], weights: dict[str, float], num_samples: int, seed: int = 0) -> None:
        self.names = sorted(weights)
        self.probabilities = normalise_weights(weights, set(domains))
        labels = np.array([self.names.index(d) if d in weights else -1 for d in domains])
        self.pools = [np.flatnonzero(labels == k) for k in range(len(self.names))]
        self.num_samples = num_samples
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_samples

    def domain_draws(self, epoch: int) -> np.ndarray:
        """The domain (index into ``names``) of every position of ``epoch``."""
        rng = np.random.default_rng([self.seed, epoch])
        return rng.choice(len(self.names), size=self.num_samples, p=self.probabilities)

    def _stream(self, domain: int, start: int, count: int) -> np.ndarray:
        """Items ``start .. start + count`` of the domain's endless stream of shuffled passes."""
        pool = self.pools[domain]
        positions = np.arange(start, start + count)
        passes, within = np.divmod(positions, len(pool))
        out = np.empty(count, dtype=np.int64)
        for p in np.unique(passes):
            order = np.random.default_rng([self.seed, 1 + domain, int(p)]).permutation(len(pool))
            chosen = passes == p
            out[chosen] = pool[order[within[chosen]]]
        return out

    def indices(self, epoch: int) -> np.ndarray:
        # Where each domain's stream stands at the start of ``epoch``: recomputed from the
        # earlier epochs' draws (cheap) so the order never depends on what this process ran.
        consumed = np.zeros(len(self.names), dtype=np.int64)
        for earlier in range(epoch):
            consumed += np.bincount(self.domain_draws(earlier), minlength=len(self.names))
        draws = self.domain_draws(epoch)
        order = np.empty(self.num_samples, dtype=np.int64)
        for k in range(len(self.names)):
            slots = np.flatnonzero(draws == k)
            if len(slots):
                order[slots] = self._stream(k, int(consumed[k]), len(slots))
        return order

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices(self.epoch).tolist())


def normalise_weights(weights: dict[str, float], present: set[str]) -> np.ndarray:
    """Weights in sorted domain order, summing to 1. A positive weight on a domain with no data
    is an error, not a silent renormalisation."""
    names = sorted(weights)
    values = np.array([float(weights[n]) for n in names])
    if (values < 0).any() or values.sum() <= 0:
        raise ConfigError(f"domain_weights {weights}: weights must be >= 0 with a positive sum",
                          "e.g. domain_weights.speech=0.8")
    for name, value in zip(names, values):
        if value > 0 and name not in present:
            raise ConfigError(f"domain_weights.{name}={value:g} but the training data has no {name} rows",
                              f"add {name} data or set domain_weights.{name}=0")
    unweighted = sorted(present - {n for n, v in zip(names, values) if v > 0})
    if unweighted:
        raise ConfigError(f"the training data has {unweighted[0]} rows but domain_weights gives it no weight",
                          f"set domain_weights.{unweighted[0]}=W or remove those rows")
    return values / values.sum()
