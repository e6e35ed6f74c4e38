"""Tests every engine of the registry passes unchanged: the store contract."""
