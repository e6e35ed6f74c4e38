"""Tests of one engine each (``<engine>/``), and each engine's test support (``<engine>/support.py``)."""
