"""The runtime's user-facing errors: each message says what is wrong and what to do."""

from __future__ import annotations


class MatcherError(RuntimeError):
    """Base of every error the runtime raises on purpose."""


class ModelError(MatcherError):
    """A model file that cannot be used here: missing, unreadable, of another variant, or built for
    another GPU or TensorRT version. Raised when the matcher is opened, never per pair."""


class BackendUnavailableError(ModelError):
    """The backend asked for cannot run on this machine (its Python module or the GPU is missing)."""


class InputError(MatcherError, ValueError):
    """One image pair cannot be matched (wrong array shape or dtype, empty image). The matcher stays
    usable: the next valid pair is served."""
