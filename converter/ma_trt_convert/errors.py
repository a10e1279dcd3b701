"""The converter's user-facing error types; ``ma-trt-convert`` prints them as ``error: ...`` and exits 2.

No heavy imports here: the CLI imports this module on every start.
"""

from __future__ import annotations

from ma_trt_ros.contract.errors import SidecarError


class CheckpointError(ValueError):
    """A weight file that is unreadable or does not have the released layout."""


class ConversionError(RuntimeError):
    """A conversion step that cannot go on; the message says what happened and what to do."""


USER_ERRORS = (CheckpointError, ConversionError, SidecarError)
