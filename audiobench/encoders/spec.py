"""``EncoderSpec``: what the registry holds for each encoder. Kept free of torch so listing
encoders stays instant; the builder is imported only when an encoder is built."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from audiobench.errors import ConfigError
from audiobench.registry import import_object

if TYPE_CHECKING:
    from audiobench.encoders.base import Encoder


@dataclass(frozen=True)
class EncoderSpec:
    """Metadata of a registered encoder, plus how to build it (MTEB's ModelMeta, as data).

    ``builder`` is a callable or a lazy ``"module:attr"`` string; it is called as
    ``builder(weights=..., random_init=..., **kwargs)`` and returns an ``Encoder``.
    """

    name: str
    builder: Callable[..., Encoder] | str
    description: str
    default_weights: str | None = None
    parameters: str = ""
    kwargs: dict[str, Any] = field(default_factory=dict)
    # Shown by `list encoders` without building anything; "" or None where unknown or open.
    family: str = ""
    window_seconds: float | None = None
    sample_rate: int | None = None
    layers: str = ""
    width: str = ""
    #: The builder accepts ``trust_remote_code`` (checkpoints that ship their own model code).
    remote_code: bool = False

    def build(self, weights: str | None = None, random_init: bool = False, trust_remote_code: bool = False) -> Encoder:
        if trust_remote_code and not self.remote_code:
            raise ConfigError(f"--trust-remote-code: encoder '{self.name}' never runs a checkpoint's own code",
                              "drop the option, or use --encoder hf")
        builder = import_object(self.builder) if isinstance(self.builder, str) else self.builder
        extra = {"trust_remote_code": True} if trust_remote_code else {}
        encoder = builder(name=self.name, weights=weights or self.default_weights,
                          random_init=random_init, **self.kwargs, **extra)
        return encoder.eval()
