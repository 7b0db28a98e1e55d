"""audiobench: an open benchmark harness for audio encoders.

The Python API (``audiobench.api``) is importable from here::

    import audiobench
    results = audiobench.run(encoder="logmel", task="esc50", data_root="data/esc50")
    print(audiobench.compare("results").markdown())

It is loaded on first use, so ``import audiobench`` (and the CLI's start) stays fast.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

API = ("run", "embed", "probe", "cached", "compare", "load_manifest", "load_encoder", "Embedding", "Comparison",
       "default_data_root", "default_cache_dir")
#: Suites: ``audiobench.run_suite("whisper-base", "whisper-aut-paper")``.
SUITE_API = ("run_suite", "load_suite")
__all__ = ["__version__", *API, *SUITE_API]


def __getattr__(name: str) -> Any:
    if name in API:
        from audiobench import api

        return getattr(api, name)
    if name in SUITE_API:
        from audiobench.suites import runner

        return getattr(runner, name)
    raise AttributeError(f"module 'audiobench' has no attribute {name!r}")
