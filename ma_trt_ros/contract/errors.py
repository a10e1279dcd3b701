"""Errors of the I/O contract (standard library only)."""

from __future__ import annotations


class SidecarError(ValueError):
    """A sidecar file that is missing, unreadable or does not follow the schema."""
