"""GPU throughput check of the Whisper-AuT training step (issue 4, item 6).

Trains a random-init whisper-large-v3 for a few optimizer steps on synthetic 30 s batches the
way ``audiobench train`` does (bf16 autocast over float32 weights as ``bf16=True`` in the
Trainer, non-reentrant gradient checkpointing, AdamW, the token-mean loss), then prints
samples/s per GPU, peak memory and MFU. Batches are made on the GPU, so data loading is not
measured: this is the model's ceiling.

MFU counts model FLOPs only: 3 forward passes per sample (``audiobench.flops``:
encoder over the 1,500-position window plus the decoder over ``--target-tokens``),
recomputation by gradient checkpointing not counted, against ``--peak-tflops`` (989 dense bf16
for H100 SXM and H200). The paper's 2 epochs x 20M clips in 23 h on 8 GPUs is about 60
samples/s per GPU.

    python tests/bench/gpu_train_check.py                      # on a CUDA machine
    python tests/bench/gpu_train_check.py --tiny --device cpu  # check the script itself on CPU
"""

from __future__ import annotations

import argparse
import sys
import time

import torch
from transformers import WhisperConfig, WhisperForConditionalGeneration

from audiobench.encoders.whisper import shipped_config
from audiobench.flops import forward_flops, training_flops_per_sample
from audiobench.training.trainer import token_mean_loss

TINY = {"d_model": 64, "encoder_layers": 2, "decoder_layers": 2, "encoder_attention_heads": 2,
        "decoder_attention_heads": 2, "encoder_ffn_dim": 256, "decoder_ffn_dim": 256, "num_mel_bins": 80}


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", default="whisper-large-v3", help="shipped architecture config")
    parser.add_argument("--tiny", action="store_true", help="a 64-d, 2+2-layer model, to check the script on CPU")
    parser.add_argument("--device", default="cuda", help="cuda | cpu")
    parser.add_argument("--batch-size", type=int, default=8, help="clips per GPU per step (paper: 8)")
    parser.add_argument("--target-tokens", type=int, default=128, help="decoder positions per sample (<= 448)")
    parser.add_argument("--steps", type=int, default=8, help="timed optimizer steps")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--no-checkpointing", action="store_true", help="keep activations instead of recomputing")
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 peak of one GPU")
    return parser.parse_args()


def build(args: argparse.Namespace, device: torch.device) -> WhisperForConditionalGeneration:
    values = shipped_config(args.arch).to_dict()
    if args.tiny:
        values.update(TINY)
    torch.manual_seed(0)
    model = WhisperForConditionalGeneration(WhisperConfig(**values)).to(device)
    model.config.use_cache = False
    if not args.no_checkpointing:
        model.activation_checkpointing_enable({"use_reentrant": False})
    return model.train()


def batch(config: WhisperConfig, args: argparse.Namespace, device: torch.device) -> dict[str, torch.Tensor]:
    frames = 2 * config.max_source_positions
    tokens = torch.randint(0, config.vocab_size, (args.batch_size, args.target_tokens + 1), device=device)
    return {"input_features": torch.randn(args.batch_size, config.num_mel_bins, frames, device=device),
            "decoder_input_ids": tokens[:, :-1], "labels": tokens[:, 1:]}


def step(model, optimizer, inputs: dict[str, torch.Tensor], device: torch.device) -> float:
    with torch.autocast(device.type, dtype=torch.bfloat16):
        outputs = model(input_features=inputs["input_features"], decoder_input_ids=inputs["decoder_input_ids"])
    loss = token_mean_loss(outputs, inputs["labels"])
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return float(loss.detach())


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> int:
    args = parse()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA device here: nothing measured (run on a GPU machine, or pass --tiny --device cpu "
              "to check the script)")
        return 0
    device = torch.device(args.device)
    model = build(args, device)
    config = model.config
    if not 0 < args.target_tokens <= config.max_target_positions:
        print(f"--target-tokens must be in 1..{config.max_target_positions}", file=sys.stderr)
        return 2
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, betas=(0.9, 0.999), weight_decay=0.01,
                                  fused=device.type == "cuda")
    inputs = batch(config, args, device)
    for _ in range(args.warmup):
        step(model, optimizer, inputs, device)
    synchronize(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    losses = [step(model, optimizer, inputs, device) for _ in range(args.steps)]
    synchronize(device)
    elapsed = time.perf_counter() - start

    flops = forward_flops(config, args.target_tokens)
    samples_per_second = args.batch_size * args.steps / elapsed
    achieved = samples_per_second * training_flops_per_sample(config, args.target_tokens)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    parameters = sum(p.numel() for p in model.parameters())
    print(f"device: {name}; model: {'tiny ' if args.tiny else ''}{args.arch} ({parameters / 1e6:.1f}M parameters), "
          f"bf16 autocast, gradient checkpointing {'off' if args.no_checkpointing else 'on (non-reentrant)'}")
    print(f"batch {args.batch_size} x 30 s, {args.target_tokens} target tokens; {args.steps} steps in {elapsed:.2f} s; "
          f"loss {losses[0]:.3f} -> {losses[-1]:.3f}")
    print(f"samples/s per GPU: {samples_per_second:.2f}  (paper: about 60)")
    print(f"model FLOPs per sample: 3 x ({flops.encoder / 1e12:.3f} encoder + {flops.decoder / 1e12:.3f} decoder) "
          f"= {3 * flops.total / 1e12:.3f} TFLOP")
    if device.type == "cuda":
        print(f"peak memory: {torch.cuda.max_memory_allocated(device) / 2**30:.1f} GiB")
        print(f"MFU: {100 * achieved / (args.peak_tflops * 1e12):.1f}% of {args.peak_tflops:g} TFLOP/s "
              f"({achieved / 1e12:.0f} TFLOP/s); encoder-only MFU "
              f"{100 * samples_per_second * 3 * flops.encoder / (args.peak_tflops * 1e12):.1f}%")
    else:
        print(f"achieved: {achieved / 1e9:.2f} GFLOP/s (MFU is reported on CUDA devices only)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
