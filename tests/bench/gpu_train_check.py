"""GPU check of the Whisper-AuT training path: `audiobench train`'s own code, end to end.

Builds its own shards (no network): 30 s clips in the 80/10/10 speech/sound/music mixture with
~100-token transcripts and captions, written by ``audiobench data shard``'s writer. Then runs
the paper recipe (``whisper-aut``) through ``build_run`` -> ``AudioSeq2SeqTrainer`` (HF
``Seq2SeqTrainer``) with a random-init whisper-large-v3 (embedding padded to Whisper's 51,866
rows; tokenizer: a BPE trained on the synthetic texts, as no hub is reachable), bf16,
non-reentrant gradient checkpointing, the shipped DeepSpeed ZeRO-2 config (``strategy=ddp`` when
DeepSpeed is not installed: it says so), streaming from the local shards with DataLoader
workers that only decode, and log-mel on the GPU. Prints samples/s per GPU (from the
trainer's own log lines, the first steps excluded), peak GPU memory and MFU.

MFU counts model FLOPs only: 3 forward passes per sample (``audiobench.flops``: encoder over the
1,500-position window plus the decoder over the mean target length), recomputation by gradient
checkpointing not counted, against ``--peak-tflops`` (989 dense bf16 for H100 SXM and H200).
The paper's 2 epochs x 20M clips in 23 h on 8 GPUs is about 60 samples/s per GPU.

    python tests/bench/gpu_train_check.py                      # one GPU, a few minutes
    python tests/bench/gpu_train_check.py --tiny --device cpu  # check the script itself on CPU
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from transformers.trainer_utils import SaveStrategy

from audiobench.audio import write_wav
from audiobench.flops import forward_flops, training_flops_per_sample
from audiobench.training.config import load_config
from audiobench.training.datalist import Row
from audiobench.training.shards import write_shards
from audiobench.training.trainer import build_run

TINY = ["model_config.d_model=64", "model_config.encoder_layers=2", "model_config.decoder_layers=2",
        "model_config.encoder_attention_heads=2", "model_config.decoder_attention_heads=2",
        "model_config.encoder_ffn_dim=256", "model_config.decoder_ffn_dim=256", "model_config.num_mel_bins=80"]
WORDS = ("the a dog barks while rain falls on metal roof and people talk quietly in distant room guitar drums "
         "bass piano melody slow fast bright warm voice sings over gentle strings").split()


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="a 64-d, 2+2-layer model, to check the script on CPU")
    parser.add_argument("--device", default="cuda", help="cuda | cpu")
    parser.add_argument("--steps", type=int, default=6, help="optimizer steps (each 128 samples on 1 GPU)")
    parser.add_argument("--skip", type=int, default=2, help="first steps left out of the rate")
    parser.add_argument("--clips-per-shard", type=int, default=8)
    parser.add_argument("--workers", type=int, default=8, help="DataLoader workers (decode and resample only)")
    parser.add_argument("--words", type=int, default=70, help="words per transcript or caption")
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 peak of one GPU")
    parser.add_argument("--work", type=Path, default=None, help="folder for shards and the run (default: temp)")
    return parser.parse_args()


def build_shards(folder: Path, args: argparse.Namespace) -> Path:
    """Enough 30 s clips for every worker of every domain; speech has 8 shards per sound shard."""
    rng = np.random.default_rng(0)
    rows = []
    shards = {"speech": 8 * args.workers, "sound": args.workers, "music": args.workers}
    t = np.arange(30 * 16_000) / 16_000
    for domain, count in shards.items():
        for i in range(count * args.clips_per_shard):
            audio = 0.1 * np.sin(2 * np.pi * (110 + 7 * i) * t) + 0.01 * rng.standard_normal(t.size)
            path = folder / "clips" / f"{domain}-{i}.wav"
            write_wav(path, audio.astype(np.float32), 16_000)
            text = " ".join(rng.choice(WORDS, size=args.words))
            rows.append(Row(key=f"{domain}{i}", text=text, domain=domain, source=f"gpu-check:{domain}{i}",
                            audio=str(path), language="en" if domain == "speech" else None))
    write_shards(rows, folder / "shards", args.clips_per_shard, workers=min(8, os.cpu_count() or 1))
    return folder / "shards"


def main() -> int:
    args = parse()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA device here: nothing measured (run on a GPU machine, or pass --tiny --device cpu "
              "to check the script)")
        return 0
    # One process without a launcher: the engine (and DeepSpeed) still want a process group.
    for key, value in {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29512", "RANK": "0", "LOCAL_RANK": "0",
                       "WORLD_SIZE": "1"}.items():
        os.environ.setdefault(key, value)
    deepspeed = importlib.util.find_spec("deepspeed") is not None and args.device.startswith("cuda")
    work = args.work or Path(tempfile.mkdtemp(prefix="gpu-train-check-"))
    start = time.perf_counter()
    shards = build_shards(work, args)
    print(f"shards: {shards} ({time.perf_counter() - start:.0f} s to write)")
    overrides = ["random_init=true", "tokenizer=bpe", "bpe_vocab_size=2000", f"max_steps={args.steps}",
                 "logging_steps=1", "save_steps=1000000", f"num_workers={args.workers}",
                 f"strategy={'deepspeed' if deepspeed else 'ddp'}"]
    if args.tiny:
        overrides += [*TINY, "bf16=false", "per_device_batch_size=2", "effective_batch_size=4"]
    else:
        overrides.append("model_config.vocab_size=51866")
    config = load_config("whisper-aut", None, overrides)
    run = build_run(config, str(shards), work / "run", resume="never")
    run.trainer.args.save_strategy = SaveStrategy.NO  # no 18 GB checkpoint at the end of a throughput check
    model = run.trainer.model
    device = run.trainer.args.device
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    run.trainer.train()  # not run.train(): the final model is not written

    logs = [line for line in (work / "run" / "log.jsonl").read_text().splitlines()]
    steps = [json.loads(line) for line in logs if '"loss"' in line]
    timed = steps[args.skip:] or steps
    samples_per_second = float(np.mean([s["samples_per_second"] for s in timed]))
    tokens = float(np.mean([s["tokens_per_second"] / max(s["samples_per_second"], 1e-9) for s in timed]))
    flops = forward_flops(model.config, max(1, round(tokens)))
    achieved = samples_per_second * training_flops_per_sample(model.config, max(1, round(tokens)))
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    parameters = sum(p.numel() for p in model.parameters())
    print(f"device: {name}; model: {'tiny ' if args.tiny else ''}whisper-large-v3 layout, random init "
          f"({parameters / 1e6:.0f}M parameters); strategy {config.strategy}"
          + ("" if deepspeed or args.tiny else " (DeepSpeed is not installed: pip install 'audiobench[train]')")
          + f"; bf16 {config.bf16}; gradient checkpointing on (non-reentrant); {args.workers} DataLoader workers")
    args_used = run.trainer.args
    print(f"batch {args_used.per_device_train_batch_size} x {args_used.gradient_accumulation_steps} accumulation, "
          f"~{tokens:.0f} target tokens per sample; loss {steps[0]['loss']:.3f} -> {steps[-1]['loss']:.3f} "
          f"over {len(steps)} steps")
    print(f"samples/s per GPU: {samples_per_second:.2f} (steps {args.skip + 1}..{len(steps)}; paper: about 60)")
    print(f"model FLOPs per sample: 3 x ({flops.encoder / 1e12:.3f} encoder + {flops.decoder / 1e12:.3f} decoder) "
          f"= {3 * flops.total / 1e12:.3f} TFLOP")
    if device.type == "cuda":
        print(f"peak memory: {torch.cuda.max_memory_allocated(device) / 2**30:.1f} GiB")
        print(f"MFU: {100 * achieved / (args.peak_tflops * 1e12):.1f}% of {args.peak_tflops:g} TFLOP/s "
              f"({achieved / 1e12:.0f} TFLOP/s)")
    else:
        print(f"achieved: {achieved / 1e9:.2f} GFLOP/s (MFU is reported on CUDA devices only)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
