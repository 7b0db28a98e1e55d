"""audiobench: an open benchmark harness for audio encoders."""

__version__ = "0.1.0"
