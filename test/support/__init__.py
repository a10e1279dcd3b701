"""Test doubles and helpers for the node tests (importable as ``support`` from test/ and from child processes)."""
