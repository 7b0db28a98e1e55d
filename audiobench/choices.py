"""The fixed sets of names a user chooses among: poolings, precisions, input windows, probes.

Kept in a module that imports nothing heavy, so the CLI can list them in ``--help`` and reject a
bad value before torch is imported or any model is loaded; the modules that implement them
(``encoders.base``, ``extraction``, ``probes``) take their names from here.
"""

from __future__ import annotations

from audiobench.registry import Registry

#: How frames become one vector per layer; both are computed in one pass and cached together.
POOLINGS = ("masked-mean", "padded-mean")
#: Precisions an encoder runs in; ``auto`` picks one per device (``extraction.resolve_dtype``).
PRECISIONS = ("float32", "bfloat16", "float16")
DTYPE_CHOICES = ("auto", *PRECISIONS)
#: ``full``: every clip fills the encoder's fixed window (Whisper: 30 s); ``trim``: only its length.
WINDOWS = ("full", "trim")

#: Probe classes by name (``probes.make_probe``); imported on first use.
PROBES: Registry[type] = Registry("probe")
PROBES.register("logistic", "audiobench.probes:LogisticProbe")
PROBES.register("mlp", "audiobench.probes:MLPProbe")
PROBES.register("paper", "audiobench.probes:PaperProbe")


def parse_layer(spec: str) -> str | int:
    """``last`` | ``all`` | an integer index (negative counts from the end); ``ValueError`` else."""
    if spec in ("last", "all"):
        return spec
    return int(spec)
