"""Tests of the SQLite engine only, and its test support."""
