"""The GPU path of extraction (skipped without CUDA; scripts/gpu_check.sh runs them on a GPU):
trimmed windows, the embed pipeline in half precision with pinned memory, rows copied to the host
without waiting, and a real out-of-memory error halving the batch."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from audiobench import extraction
from audiobench.encoders import Window, build_encoder
from audiobench.encoders.base import pool
from audiobench.extraction import EmbedOptions, embed, resolve_dtype
from audiobench.tasks import get_task

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
CUDA = torch.device("cuda", 0)  # an index: set_per_process_memory_fraction refuses a bare "cuda" (torch 2.11)


def noise(batch: int, seconds: float) -> tuple[torch.Tensor, torch.Tensor]:
    samples = int(seconds * 16_000)
    waveforms = 0.1 * torch.randn(batch, samples, generator=torch.Generator().manual_seed(0))
    return waveforms.to(CUDA), torch.full((batch,), samples)  # lengths stay on the host, as embed passes them


@pytest.mark.parametrize("name", ["whisper-micro", "qwen2-audio-micro"])
def test_trim_on_clips_filling_the_window_matches_full_on_the_gpu(name: str) -> None:
    encoder = build_encoder(name, random_init=True).to(CUDA)
    waveforms, lengths = noise(2, encoder.window_seconds)
    with torch.inference_mode():
        full = pool(encoder(waveforms, lengths), True)
        encoder.set_window(Window("trim", 50))
        trimmed = encoder(waveforms, lengths)
    assert trimmed.hidden_states[0].shape[1] == encoder.max_frames
    torch.testing.assert_close(pool(trimmed, True), full, atol=1e-5, rtol=1e-5)


def test_compiled_blocks_give_the_eager_numbers_full_and_trimmed() -> None:
    encoder = build_encoder("whisper-micro", random_init=True).to(CUDA)
    waveforms, lengths = noise(4, 3.0)
    lengths[1:] = torch.tensor([8_000, 16_000, 40_000])  # three trimmed window lengths in one batch
    outputs = {}
    with torch.inference_mode():
        for compiled in (False, True):
            if compiled:
                encoder.compile_network()
            for window in (Window("full"), Window("trim", 50)):
                encoder.set_window(window)
                outputs[compiled, window.mode] = pool(encoder(waveforms, lengths), True)
    for mode in ("full", "trim"):
        torch.testing.assert_close(outputs[True, mode], outputs[False, mode], atol=1e-4, rtol=1e-4)


def test_half_precision_embed_on_the_gpu_agrees_with_float32_on_the_cpu(synth_root: Path, tmp_path: Path) -> None:
    manifest = get_task("esc50").manifest(synth_root / "esc50")
    manifest = dataclasses.replace(manifest, clips=manifest.clips[:24])
    encoder = build_encoder("whisper-micro", random_init=True, window=Window("trim", 50))
    assert resolve_dtype("auto", CUDA, encoder) == "bfloat16"
    gpu, gpu_report = embed(encoder, manifest, tmp_path / "gpu", EmbedOptions(batch_size=8, device="cuda", num_workers=2))
    cpu, cpu_report = embed(encoder, manifest, tmp_path / "cpu", EmbedOptions(batch_size=8, device="cpu", num_workers=0))
    assert gpu_report.device.startswith("cuda") and gpu_report.encoded == 24
    assert gpu.settings.dtype == "bfloat16" and cpu.settings.dtype == "float32"
    a = gpu.load(gpu_report.keys, "masked-mean", encoder.num_layers - 1)
    b = cpu.load(cpu_report.keys, "masked-mean", encoder.num_layers - 1)
    cosine = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cosine.min() > 0.99


def test_rows_copied_to_the_host_without_waiting_land_with_their_own_clips(synth_root: Path, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Each batch's rows reach the host by a non-blocking copy into pinned memory, read one batch
    later: the cache equals the CPU's, clip for clip (logmel, float32). Every batch keeps the
    device busy for a while before its copy, so rows read without waiting for it would be unset."""
    encode_and_pool = extraction.encode_and_pool

    def slow(*args: object) -> torch.Tensor:
        pooled = encode_and_pool(*args)
        if pooled.is_cuda:
            torch.cuda._sleep(100_000_000)  # device cycles, queued before the copy to the host
        return pooled

    monkeypatch.setattr(extraction, "encode_and_pool", slow)
    manifest = get_task("esc50").manifest(synth_root / "esc50")
    manifest = dataclasses.replace(manifest, clips=manifest.clips[:24])
    encoder = build_encoder("logmel")
    runs = {device: embed(encoder, manifest, tmp_path / device, EmbedOptions(batch_size=4, chunk_size=6, device=device,
                                                                            dtype="float32", num_workers=2))
            for device in ("cuda", "cpu")}
    (gpu, gpu_report), (cpu, cpu_report) = runs["cuda"], runs["cpu"]
    assert gpu_report.device.startswith("cuda") and gpu_report.encoded == 24
    for pooling in ("masked-mean", "padded-mean"):
        np.testing.assert_allclose(gpu.load(gpu_report.keys, pooling, 0), cpu.load(cpu_report.keys, pooling, 0),
                                   rtol=1e-2, atol=1e-2)


def test_a_batch_that_does_not_fit_halves_on_a_real_out_of_memory_error(synth_root: Path, tmp_path: Path) -> None:
    manifest = get_task("gtzan").manifest(synth_root / "gtzan")
    manifest = dataclasses.replace(manifest, clips=manifest.clips[:64])
    encoder = build_encoder("whisper-micro", random_init=True)
    total = torch.cuda.get_device_properties(CUDA).total_memory
    notices: list[str] = []
    torch.cuda.set_per_process_memory_fraction(0.5 * 2**30 / total, CUDA)  # half a GiB: 64 clips of 30 s do not fit
    try:
        cache, report = embed(encoder, manifest, tmp_path / "small", EmbedOptions(batch_size=64, device="cuda",
                                                                               dtype="float32", num_workers=2),
                              on_notice=notices.append)
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0, CUDA)
        torch.cuda.empty_cache()
    assert len(notices) == 1 and "halving" in notices[0] and report.encoded == 64
    reference, reference_report = embed(encoder, manifest, tmp_path / "large",
                                        EmbedOptions(batch_size=4, device="cuda", dtype="float32", num_workers=2))
    np.testing.assert_allclose(cache.load(report.keys, "padded-mean", 1),
                               reference.load(reference_report.keys, "padded-mean", 1), atol=2e-3)
