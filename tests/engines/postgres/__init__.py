"""Tests of the PostgreSQL engine only, its test server and its test support."""
