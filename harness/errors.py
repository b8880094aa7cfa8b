"""Error types with messages that name the problem and the fix.

Every user-facing failure of the harness raises a subclass of :class:`HarnessError`
(itself a ``ValueError``) whose message says what was wrong and what to do.
"""

from __future__ import annotations


class HarnessError(ValueError):
    """Base class: bad input or an environment problem, explained in the message."""


class ShapeError(HarnessError):
    """Arrays whose shapes do not fit together (e.g. unpaired rows, token-count mismatch)."""


class ConfigError(HarnessError):
    """An invalid option or an inconsistent configuration."""


class DegenerateInputError(HarnessError):
    """Input for which a metric is undefined or trivial (n <= k, NaN rows, constant data)."""


class ResourceError(HarnessError):
    """A computation that would exceed a stated memory/size guard."""


class HubAccessError(HarnessError):
    """A model, SAE or dataset could not be fetched (offline, gated, or missing file)."""


class UnknownIdError(HarnessError):
    """Unknown model name, SAE release/id, hookpoint or registry key."""
