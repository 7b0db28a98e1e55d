"""Where the GPU time of training and extraction goes, below the engine: whisper-large-v3
(random init) timed as bare PyTorch steps, to set against what ``gpu_train_check.py`` (the
trainer) and ``audiobench bench`` (the extraction pipeline) reach on the same GPU.

Training: one micro-batch of 8 clips of 30 s (forward and backward, bf16 autocast over float32
weights, as the trainer runs it) with non-reentrant gradient checkpointing on and off, and one
with the weights in bf16. Extraction: the encoder on a batch of 64 in bf16, with and without
every layer's hidden states, eager (also with each SDPA attention kernel forced in turn) and
under ``torch.compile``. Then the kernels that take the most GPU time in one checkpointed
training micro-batch (profile.txt) and in one batch of the last extraction variant, compiled
on a GPU (profile-extraction.txt): where the MFU goes.

    python tests/bench/gpu_step_check.py --out gpu-step          # on a GPU, about two minutes
    python tests/bench/gpu_step_check.py --tiny --device cpu --out /tmp/s   # checks the script
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from transformers import WhisperConfig, WhisperForConditionalGeneration

from audiobench.encoders.whisper import shipped_config
from audiobench.flops import encoder_flops, forward_flops, training_flops_per_sample

TINY = {"d_model": 64, "encoder_layers": 2, "decoder_layers": 2, "encoder_attention_heads": 2,
        "decoder_attention_heads": 2, "encoder_ffn_dim": 256, "decoder_ffn_dim": 256, "num_mel_bins": 80}
TARGET_TOKENS = 71  # what gpu_train_check.py's synthetic texts average
#: SDPA kernels timed one at a time, beside SDPA's own choice.
ATTENTION_BACKENDS = (SDPBackend.FLASH_ATTENTION, SDPBackend.CUDNN_ATTENTION, SDPBackend.EFFICIENT_ATTENTION)


def timed(step: Callable[[], object], device: torch.device, repeats: int, warmup: int) -> float:
    """Seconds per call, after ``warmup`` calls."""
    for _ in range(warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - start) / repeats


def build(config: WhisperConfig, device: torch.device) -> WhisperForConditionalGeneration:
    torch.manual_seed(0)
    with device:  # initialised where it runs: no minutes of CPU init for 1.5B parameters
        model = WhisperForConditionalGeneration(config)
    model.config.use_cache = False
    return model


def training_steps(model: WhisperForConditionalGeneration, batch: int, device: torch.device, repeats: int,
                   warmup: int) -> list[dict]:
    config = model.config
    features = torch.randn(batch, config.num_mel_bins, 2 * config.max_source_positions, device=device)
    labels = torch.randint(0, config.vocab_size, (batch, TARGET_TOKENS), device=device)
    per_sample = training_flops_per_sample(config, TARGET_TOKENS)
    rows = []
    for name, checkpointing, weights in [("autocast, checkpointing", True, torch.float32),
                                         ("autocast, no checkpointing", False, torch.float32),
                                         ("bf16 weights, checkpointing", True, torch.bfloat16)]:
        model.to(weights).train()
        if checkpointing:
            model.activation_checkpointing_enable({"use_reentrant": False})
        else:
            model.activation_checkpointing_disable()

        def step(weights: torch.dtype = weights) -> None:
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=weights == torch.float32):
                loss = model(input_features=features.to(weights), labels=labels).loss
            loss.backward()
            model.zero_grad(set_to_none=True)

        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        try:
            seconds = timed(step, device, repeats, warmup)
        except torch.OutOfMemoryError:
            model.zero_grad(set_to_none=True)
            torch.cuda.empty_cache()
            print(f"train micro-batch {batch}: {name}: out of memory")
            continue
        rows.append({"what": f"train micro-batch {batch}: {name}", "ms": 1000 * seconds,
                     "samples_per_second": batch / seconds, "model_tflops": batch * per_sample / seconds / 1e12,
                     "peak_gib": torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None})
    model.to(torch.float32)
    model.activation_checkpointing_enable({"use_reentrant": False})
    return rows


def extraction_steps(model: WhisperForConditionalGeneration, batch: int, device: torch.device, repeats: int,
                     warmup: int, compile_too: bool) -> tuple[list[dict], Callable[[], None] | None]:
    """The timed rows, and the step of the last variant that ran (to profile)."""
    encoder = model.get_encoder().to(torch.bfloat16).eval()
    config = encoder.config
    features = torch.randn(batch, config.num_mel_bins, 2 * config.max_source_positions, device=device,
                           dtype=torch.bfloat16)
    per_clip = sum(encoder_flops(config, config.max_source_positions))
    variants: list[tuple[str, Callable, bool, SDPBackend | None]] = [("eager, every layer", encoder, True, None),
                                                                     ("eager, last layer only", encoder, False, None)]
    # Which attention kernel SDPA's own choice is worth against the others (on a CPU most are not run).
    variants += [(f"eager, every layer, {backend.name.lower()} only", encoder, True, backend)
                 for backend in ATTENTION_BACKENDS]
    if compile_too:
        variants.append(("torch.compile, every layer", torch.compile(encoder), True, None))
    rows, profiled = [], None
    for name, module, hidden, backend in variants:
        def step(module=module, hidden=hidden, backend=backend) -> None:
            with torch.inference_mode(), sdpa_kernel(backend) if backend else nullcontext():
                module(features, output_hidden_states=hidden)

        start = time.perf_counter()
        try:
            step()  # compiles here, when compiled
        except RuntimeError as err:  # a backend this GPU, dtype or shape does not support
            rows.append({"what": f"encoder batch {batch}, bf16: {name}", "error": str(err).splitlines()[0]})
            continue
        first = time.perf_counter() - start

        profiled = step
        seconds = timed(step, device, repeats, warmup)
        rows.append({"what": f"encoder batch {batch}, bf16: {name}", "ms": 1000 * seconds,
                     "samples_per_second": batch / seconds, "model_tflops": batch * per_clip / seconds / 1e12,
                     "first_call_s": first})
    return rows, profiled


def kernel_table(step: Callable[[], object], device: torch.device) -> str:
    """The 25 operators and kernels that take the most device time in one ``step``."""
    activities = [torch.profiler.ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.profiler.profile(activities=activities) as profiler:
        step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    key = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    return profiler.key_averages().table(sort_by=key, row_limit=25, max_name_column_width=60)


def profile_micro_batch(model: WhisperForConditionalGeneration, batch: int, device: torch.device) -> str:
    model.to(torch.float32).train()
    config = model.config
    features = torch.randn(batch, config.num_mel_bins, 2 * config.max_source_positions, device=device)
    labels = torch.randint(0, config.vocab_size, (batch, TARGET_TOKENS), device=device)

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16):
            loss = model(input_features=features, labels=labels).loss
        loss.backward()

    return kernel_table(step, device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for steps.json and profile.txt")
    parser.add_argument("--tiny", action="store_true", help="a 64-d, 2+2-layer model, to check the script on CPU")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--train-batch", type=int, action="append", help="training micro-batch (repeatable; default 8)")
    parser.add_argument("--no-extraction", action="store_true", help="time training only")
    parser.add_argument("--no-profile", action="store_true", help="skip the kernel profile")
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 peak of one GPU")
    args = parser.parse_args()
    device = torch.device(args.device)
    values = {**shipped_config("whisper-large-v3").to_dict(), "vocab_size": 51866, **(TINY if args.tiny else {})}
    model = build(WhisperConfig(**values), device)
    repeats, warmup = (1, 0) if args.tiny else (5, 2)
    rows = [row for batch in args.train_batch or [2 if args.tiny else 8]
            for row in training_steps(model, batch, device, repeats, warmup)]
    extraction_step = None
    if not args.no_extraction:
        extraction_rows, extraction_step = extraction_steps(model, 2 if args.tiny else 64, device, repeats, warmup,
                                                            compile_too=not args.tiny)
        rows += extraction_rows
    for row in rows:
        if "error" in row:
            print(f"{row['what']:<66} not run: {row['error']}")
            continue
        row["mfu"] = row["model_tflops"] / args.peak_tflops
        print(f"{row['what']:<66} {row['ms']:8.1f} ms  {row['samples_per_second']:8.1f}/s  "
              f"{row['model_tflops']:6.1f} TFLOP/s  MFU {100 * row['mfu']:5.1f}%"
              + (f"  peak {row['peak_gib']:.1f} GiB" if row.get("peak_gib") else "")
              + (f"  first call {row['first_call_s']:.1f} s" if "first_call_s" in row else ""))
    flops = forward_flops(model.config, TARGET_TOKENS)
    print(f"forward FLOPs per sample: encoder {flops.encoder / 1e12:.3f} T, decoder {flops.decoder / 1e12:.3f} T")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "steps.json").write_text(json.dumps(rows, indent=2) + "\n")
    if not args.no_profile and extraction_step is not None:
        table = kernel_table(extraction_step, device)  # before training moves the model back to float32
        (args.out / "profile-extraction.txt").write_text(table + "\n")
        print(table)
    if not args.no_profile:
        table = profile_micro_batch(model, 2 if args.tiny else 8, device)
        (args.out / "profile.txt").write_text(table + "\n")
        print(table)


if __name__ == "__main__":
    main()
