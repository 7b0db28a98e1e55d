"""``EncoderSpec``: what the registry holds for each encoder. Kept free of torch so listing
encoders stays instant; the builder is imported only when an encoder is built."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

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

    def build(self, weights: str | None = None, random_init: bool = False) -> Encoder:
        builder = import_object(self.builder) if isinstance(self.builder, str) else self.builder
        encoder = builder(name=self.name, weights=weights or self.default_weights,
                          random_init=random_init, **self.kwargs)
        return encoder.eval()
