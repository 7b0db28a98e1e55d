"""A 2-process ``torchrun`` run of ``audiobench train`` on CPU (gloo): both ranks train, they
see disjoint samples that together are exactly the mixture sampler's order, and the run's
losses equal a single process's with the same effective batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from audiobench.cli import main
from audiobench.training.config import load_config
from audiobench.training.manifest import read_manifest
from audiobench.training.sampler import MixtureSampler

STEPS = 4
COMMON = ["samples_per_epoch=32", f"max_steps={STEPS}", "effective_batch_size=4", "save_steps=100",
          "record_samples=true"]


def losses(run: Path) -> dict[int, float]:
    lines = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    return {line["step"]: line["loss"] for line in lines if "loss" in line}


def test_two_ranks_train_on_disjoint_samples(tmp_path: Path) -> None:
    assert main(["data", "synth", "--out", str(tmp_path), "--task", "mixture"]) == 0
    manifest = tmp_path / "mixture" / "train.jsonl"
    run = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(Path(sys.executable).parent / "audiobench"), "train", "--recipe", "whisper-aut-tiny",
               "--data", str(manifest), "--out", str(run), "per_device_batch_size=2", *COMMON]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=400, check=False)
    assert done.returncode == 0, done.stderr[-3000:]

    seen = {}
    for rank in (0, 1):
        records = [json.loads(line) for line in (run / "samples" / f"rank{rank}.jsonl").read_text().splitlines()]
        seen[rank] = [key for record in records for key in record["keys"]]
    assert len(seen[0]) == len(seen[1]) == STEPS * 2
    assert not set(seen[0]) & set(seen[1])
    # Together the ranks consumed exactly the first STEPS x 4 positions of the sampler's order.
    rows = read_manifest(manifest)
    config = load_config("whisper-aut-tiny")
    order = MixtureSampler([r.domain for r in rows], config.domain_weights, 32, seed=config.seed).indices(0)
    assert Counter(seen[0] + seen[1]) == Counter(rows[i].key for i in order[:STEPS * 4])

    # The same global batches on one process give the same losses: the loss is averaged over
    # the target tokens of the whole step, whatever the world size.
    single = tmp_path / "single"
    assert main(["train", "--recipe", "whisper-aut-tiny", "--data", str(manifest), "--out", str(single),
                 "per_device_batch_size=4", *COMMON]) == 0
    assert losses(run) == pytest.approx(losses(single), rel=1e-4)
