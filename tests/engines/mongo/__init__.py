"""Tests of the MongoDB engine only, and its test support."""
