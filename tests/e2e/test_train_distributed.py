"""A 2-process ``torchrun`` run of ``audiobench train`` on CPU (gloo), streaming shards: the
ranks train on disjoint samples, and a run killed mid-epoch and restarted with the same
command continues with the same samples and losses as the uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from audiobench.cli import main

pytestmark = pytest.mark.slow  # `make test-fast` skips it; CI runs it

# 3 steps of 2 x 2 samples an epoch: the step-2 checkpoint is mid-epoch, step 4 is in epoch 2.
STEPS = 4
SETTINGS = ["per_device_batch_size=2", "effective_batch_size=4", "samples_per_epoch=12", f"max_steps={STEPS}",
            "save_steps=2", "record_samples=true"]


def last_per_step(path: Path, key: str) -> dict[int, object]:
    """The last value logged for each step (a killed run may have logged steps it redoes)."""
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    return {line["step"]: line[key] for line in lines if key in line}


def command(shards: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
            str(Path(sys.executable).parent / "audiobench"), "train", "--recipe", "whisper-aut-tiny",
            "--data", str(shards), "--out", str(out), *SETTINGS]


ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def test_a_killed_two_process_stream_resumes_exactly(tmp_path: Path) -> None:
    assert main(["data", "synth", "--out", str(tmp_path), "--task", "mixture"]) == 0
    shards = tmp_path / "shards"
    assert main(["data", "shard", str(tmp_path / "mixture" / "train.jsonl"), "--out", str(shards),
                 "--shard-size", "4"]) == 0

    reference = tmp_path / "uninterrupted"
    done = subprocess.run(command(shards, reference), env=ENV, capture_output=True, text=True, timeout=400, check=False)
    assert done.returncode == 0, done.stderr[-3000:]

    killed = tmp_path / "killed"
    run = subprocess.Popen(command(shards, killed), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           start_new_session=True)
    deadline = time.monotonic() + 300
    while not (killed / "checkpoint-2" / "complete.json").is_file() and run.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    assert not (killed / "final").exists()
    again = subprocess.run(command(shards, killed), env=ENV, capture_output=True, text=True, timeout=400, check=False)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resuming from" in again.stderr

    expected = last_per_step(reference / "log.jsonl", "loss")
    resumed = last_per_step(killed / "log.jsonl", "loss")
    assert sorted(expected) == list(range(1, STEPS + 1))
    assert [resumed[s] for s in (3, 4)] == pytest.approx([expected[s] for s in (3, 4)], rel=1e-5)
    keys = {}
    for name, folder in (("reference", reference), ("killed", killed)):
        for rank in (0, 1):
            keys[name, rank] = last_per_step(folder / "samples" / f"rank{rank}.jsonl", "keys")
    for rank in (0, 1):
        assert [keys["killed", rank][s] for s in (2, 3)] == [keys["reference", rank][s] for s in (2, 3)]
    # The ranks read disjoint shards: no sample on both in the first epoch.
    first_epoch = [{k for s in range(3) for k in keys["reference", rank][s]} for rank in (0, 1)]
    assert len(first_epoch[0]) == len(first_epoch[1]) == 6 and not first_epoch[0] & first_epoch[1]
