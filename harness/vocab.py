"""The closed vocabularies of the method choices, each defined once.

Type hints use these ``Literal`` types; runtime checks derive the allowed values from them
(:func:`choices`, :func:`check_choice`), so a new value is added in one place.
"""

from __future__ import annotations

import typing
from typing import Literal

from harness.errors import ConfigError

ActivationSite = Literal["block_output", "block_input", "mlp_output"]
"""``block_output`` = TL ``blocks.L.hook_resid_post``; ``block_input`` = ``hook_resid_pre`` (HF ``hidden_states[L]``);
``mlp_output`` = ``blocks.L.hook_mlp_out`` (the MLP's output, for MLP-output SAE sets: a profile's ``activation_site``)."""
SaeCode = Literal["sparse", "pre_topk"]
"""The SAE's real (TopK) code, or the dense pre-TopK ReLU latents."""
OneToOneRule = Literal["none", "first_seen", "best", "hungarian"]
"""How many-to-1 pairs become 1-1 (see :func:`harness.pairing.matching.one_to_one`)."""
RsaInner = Literal["correlation", "euclidean"]
"""Within-space similarity of RSA."""
PValueRule = Literal["paper", "plus_one"]
"""``paper``: mean(null >= observed); ``plus_one``: (1 + #null >= observed) / (1 + N)."""
DeadPolicy = Literal["paper", "exclude"]
"""Dead (zero-variance) features: correlate 0 with everything (``paper``) or are never partners."""
WholeWordRule = Literal["spaces", "punctuation"]
"""Whole-word keyword test of the concept windows: ``spaces`` = the authors' split on spaces only,
stripping ``. , ? !`` and literal backslash-n; ``punctuation`` = every punctuation mark separates words."""
ColumnOrder = Literal["sorted", "python_set"]
"""Column order of a semantic subset: ascending feature ids, or the authors' ``list(set)`` order."""
ColumnWalk = Literal["sorted", "given"]
"""Order in which :func:`harness.pairing.matching.pair_within` walks B's columns for "first seen"."""


def choices(vocab: object) -> tuple[str, ...]:
    """The values of a ``Literal`` vocabulary, in definition order."""
    values = typing.get_args(vocab)
    if not values:
        raise TypeError(f"{vocab!r} is not a Literal vocabulary.")
    return tuple(str(v) for v in values)


def check_choice(option: str, value: object, vocab: object, *, where: str = "") -> None:
    """Raise :class:`ConfigError` unless ``value`` is one of ``vocab``'s values.

    Args:
        option: the option's name, for the message.
        where: a prefix naming the owner (``"Procedure 'paper': "``).
    """
    allowed = choices(vocab)
    if value not in allowed:
        raise ConfigError(f"{where}{option}={value!r} is invalid; use {' or '.join(repr(a) for a in allowed)}.")
