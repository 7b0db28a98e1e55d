"""``audiobench validate-encoder MODULE:OBJECT``: check a third-party encoder against the contract.

``OBJECT`` is an ``EncoderSpec`` (what plug-ins register) or an ``Encoder`` instance. The checks
run a synthetic batch of three clips of different lengths through it:

- attributes: ``name``, ``sample_rate``, ``num_layers``, ``dim``, ``window_seconds``, ``widths``;
- output: one ``[batch, frames, width]`` tensor per layer, finite, with ``frame_lengths`` in
  ``1..frames`` that never shrink for a longer clip;
- determinism: the same batch twice gives the same pooled vectors;
- batch invariance: each clip encoded alone gives its pooled vectors from the batch;
- fingerprint: a string, the same when asked twice and when the encoder is built again.

Tolerances: pooled vectors may differ by ``ATOL + RTOL * max|value|`` (float32 reductions run in
a different order for different batch shapes; anything above is a real dependence).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from audiobench.encoders.base import Encoder, EncoderOutput, pool
from audiobench.encoders.spec import EncoderSpec
from audiobench.registry import import_object

ATOL = 1e-4
RTOL = 1e-4
CLIP_SECONDS = (1.0, 0.55, 0.3)


@dataclass
class Validation:
    """The outcome: ``failures`` holds one line per failed check."""

    target: str
    checks: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    def check(self, name: str, ok: bool, failure: str) -> bool:
        self.checks.append(name)
        if not ok:
            self.failures.append(f"{name}: {failure}")
        return ok


def synthetic_batch(sample_rate: int, max_samples: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    lengths = torch.tensor([int(s * sample_rate) for s in CLIP_SECONDS])
    if max_samples:
        lengths = lengths.clamp(max=max_samples)
    waveforms = 0.1 * torch.randn(len(lengths), int(lengths.max()), generator=generator)
    waveforms *= torch.arange(waveforms.shape[1])[None, :] < lengths[:, None]
    return waveforms, lengths


def close(a: torch.Tensor, b: torch.Tensor) -> tuple[bool, float]:
    difference = float((a - b).abs().max()) if a.numel() else 0.0
    return difference <= ATOL + RTOL * float(a.abs().max() if a.numel() else 0.0), difference


def load_target(target: str, weights: str | None, random_init: bool) -> tuple[Callable[[], Any], str | None]:
    """A function that builds the encoder, or why it cannot be built."""
    if ":" not in target:
        return lambda: None, f"'{target}' is not MODULE:OBJECT (e.g. my_encoders:spec)"
    try:
        obj = import_object(target)
    except (ImportError, AttributeError) as err:
        return lambda: None, f"cannot import {target}: {err}"
    if isinstance(obj, EncoderSpec):
        return lambda: obj.build(weights=weights, random_init=random_init), None
    if isinstance(obj, Encoder):
        return lambda: obj, None
    return lambda: None, f"{target} is a {type(obj).__name__}, not an EncoderSpec or an Encoder"


def validate_encoder(target: str, weights: str | None = None, random_init: bool = False,
                     shadows: str | None = None) -> Validation:
    """Run every contract check on ``target``; ``shadows`` names a built-in its entry point hides."""
    report = Validation(target)
    report.check("entry point", shadows is None,
                 f"registered as '{shadows}', the name of a built-in encoder, which wins: rename the entry point")
    build, problem = load_target(target, weights, random_init)
    if not report.check("import", problem is None, problem or ""):
        return report
    try:
        encoder = build()
    except Exception as err:  # a plug-in's own failure is a finding, not our crash
        report.check("build", False, f"{type(err).__name__}: {err}")
        return report
    if not report.check("type", isinstance(encoder, Encoder),
                        f"the builder returned a {type(encoder).__name__}, not an audiobench Encoder"):
        return report
    if not check_attributes(report, encoder):
        return report
    encoder.eval()
    waveforms, lengths = synthetic_batch(encoder.sample_rate, encoder.window_samples)
    try:
        with torch.inference_mode():
            output = encoder(waveforms, lengths)
            again = encoder(waveforms, lengths)
            alone = [encoder(waveforms[i : i + 1, : int(n)], lengths[i : i + 1]) for i, n in enumerate(lengths)]
    except Exception as err:  # same: reported, one line
        report.check("forward", False, f"{type(err).__name__}: {err}")
        return report
    if not check_output(report, encoder, output, lengths):
        return report
    fixed = encoder.window_seconds is not None
    pooled = pool(output, fixed, encoder.dim)
    ok, difference = close(pooled, pool(again, fixed, encoder.dim))
    report.check("determinism", ok, f"the same batch twice differs by {difference:.2e} (tolerance {ATOL:g} + "
                 f"{RTOL:g} x max)")
    leaks = []
    for i, single in enumerate(alone):
        if not check_output(report, encoder, single, lengths[i : i + 1], quiet=True):
            leaks.append(f"clip {i} alone gives malformed output")
            continue
        ok, difference = close(pooled[i : i + 1], pool(single, fixed, encoder.dim))
        if not ok:
            leaks.append(f"clip {i} alone differs by {difference:.2e}")
    report.check("batch invariance", not leaks, f"{'; '.join(leaks)} from the same clip in a padded batch "
                 f"(tolerance {ATOL:g} + {RTOL:g} x max): padding leaks into real frames")
    check_fingerprint(report, encoder, build)
    return report


def check_attributes(report: Validation, encoder: Encoder) -> bool:
    values = {key: getattr(encoder, key, None) for key in ("name", "sample_rate", "num_layers", "dim")}
    ok = report.check("attributes", isinstance(values["name"], str) and all(
        isinstance(values[key], int) and values[key] > 0 for key in ("sample_rate", "num_layers", "dim")),
        f"name must be a str and sample_rate, num_layers, dim positive ints (got {values})")
    window = encoder.window_seconds
    ok &= report.check("window", window is None or window > 0, f"window_seconds must be None or > 0 (got {window})")
    if ok:
        widths = encoder.widths
        ok &= report.check("widths", len(widths) == encoder.num_layers and max(widths) == encoder.dim,
                           f"layer_dims {widths} must have num_layers={encoder.num_layers} entries, the widest "
                           f"equal to dim={encoder.dim}")
    return ok


def check_output(report: Validation, encoder: Encoder, output: Any, lengths: torch.Tensor,
                 quiet: bool = False) -> bool:
    """Shapes, widths, finiteness and frame counts of one forward's output."""
    check = report.check if not quiet else (lambda name, ok, failure: ok)
    if not check("output type", isinstance(output, EncoderOutput),
                 f"forward returned a {type(output).__name__}, not an EncoderOutput"):
        return False
    states = output.hidden_states
    if not check("layers", len(states) == encoder.num_layers,
                 f"{len(states)} hidden states for num_layers={encoder.num_layers}"):
        return False
    frame_lengths = output.frame_lengths
    if isinstance(frame_lengths, list) and not check("frame_lengths", len(frame_lengths) == len(states),
                                                     f"{len(frame_lengths)} per-layer frame_lengths for "
                                                     f"{len(states)} layers"):
        return False
    ok = True
    for layer, (state, valid) in enumerate(zip(states, output.layer_frame_lengths())):
        expected = (len(lengths), encoder.widths[layer])
        ok &= check("shape", state.dim() == 3 and (state.shape[0], state.shape[2]) == expected,
                    f"layer {layer} is {tuple(state.shape)}, expected [{expected[0]}, frames, {expected[1]}]")
        ok &= check("finite", bool(torch.isfinite(state).all()), f"layer {layer} holds NaN or inf")
        if not ok:
            return False
        frames = state.shape[1]
        ok &= check("frame counts", valid.shape == lengths.shape and not valid.is_floating_point()
                    and bool(((valid >= 1) & (valid <= frames)).all()),
                    f"layer {layer}: frame_lengths {valid.tolist()} must be {len(lengths)} integers in 1..{frames}")
        order = torch.argsort(lengths)
        ok &= check("frame counts grow", bool((valid[order].diff() >= 0).all()) if ok else True,
                    f"layer {layer}: a longer clip got fewer valid frames ({valid.tolist()} for "
                    f"{lengths.tolist()} samples)")
    return ok


def check_fingerprint(report: Validation, encoder: Encoder, build: Callable[[], Any]) -> None:
    try:
        first, second = encoder.fingerprint, encoder.fingerprint
        rebuilt = build().fingerprint
    except Exception as err:  # fingerprint_fields raising is a plug-in defect
        report.check("fingerprint", False, f"{type(err).__name__}: {err}")
        return
    report.check("fingerprint", isinstance(first, str) and first == second == rebuilt,
                 "fingerprint changes between calls or rebuilds: fingerprint_fields must hold only what "
                 "identifies the weights and configuration (no times, ids, random values)")
