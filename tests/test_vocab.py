"""Each closed vocabulary is defined once (harness.vocab) and every runtime check uses it."""

from __future__ import annotations

import typing
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from harness import vocab
from harness.config import CORRECTED, Procedure
from harness.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_choices_are_the_literal_values() -> None:
    assert vocab.choices(vocab.OneToOneRule) == ("none", "first_seen", "best", "hungarian")
    assert vocab.choices(vocab.PValueRule) == ("paper", "plus_one")
    with pytest.raises(TypeError, match="not a Literal"):
        vocab.choices(int)


@pytest.mark.parametrize(
    ("option", "vocabulary"),
    [
        ("activation_site", vocab.ActivationSite),
        ("sae_code", vocab.SaeCode),
        ("dead_features", vocab.DeadPolicy),
        ("one_to_one", vocab.OneToOneRule),
        ("rsa_inner", vocab.RsaInner),
        ("p_rule", vocab.PValueRule),
    ],
)
def test_procedure_accepts_exactly_the_vocabulary(option: str, vocabulary: object) -> None:
    for value in typing.get_args(vocabulary):
        assert getattr(CORRECTED.replace(**{option: value}), option) == value
    allowed = " or ".join(repr(v) for v in typing.get_args(vocabulary))
    with pytest.raises(ConfigError, match=f"Procedure 'corrected': {option}='bogus' is invalid; use {allowed}"):
        CORRECTED.replace(**{option: "bogus"})
    # the dataclass field is annotated with the vocabulary itself
    assert typing.get_type_hints(Procedure)[option] == vocabulary


def _one_to_one(v: str) -> None:
    from harness.pairing.matching import Pairs, one_to_one

    one_to_one(Pairs(np.array([0]), np.array([0]), np.array([0.5])), rule=v)


def _p_value(v: str) -> None:
    from harness.scoring.nulls import p_value

    p_value(0.5, np.array([0.1, 0.9]), rule=v)


def _inner(v: str) -> None:
    from harness.scoring.metrics import similarity_upper

    similarity_upper(np.eye(3), inner=v)


def _site(v: str) -> None:
    from harness.load.models import hook_name

    hook_name(0, v)


def _dead(v: str) -> None:
    from harness.pairing.matching import max_correlation

    max_correlation(np.eye(3), np.eye(3), dead=v)


@pytest.mark.parametrize(
    ("call", "option", "vocabulary"),
    [
        (_one_to_one, "rule", vocab.OneToOneRule),
        (_p_value, "p_rule", vocab.PValueRule),
        (_inner, "inner", vocab.RsaInner),
        (_site, "site", vocab.ActivationSite),
        (_dead, "dead", vocab.DeadPolicy),
    ],
)
def test_library_checks_name_every_allowed_value(call: Callable[[str], None], option: str, vocabulary: object) -> None:
    allowed = " or ".join(repr(v) for v in typing.get_args(vocabulary))
    with pytest.raises(ConfigError, match=f"{option}='bogus' is invalid; use {allowed}"):
        call("bogus")
    for value in typing.get_args(vocabulary):  # every value has a branch (none reaches the AssertionError)
        try:
            call(value)
        except ConfigError:
            pytest.fail(f"{option}={value!r} refused")
        except Exception as exc:  # noqa: BLE001  # other errors (e.g. hungarian needs a matrix) are not vocabulary errors
            assert not isinstance(exc, AssertionError), (option, value)


def test_no_vocabulary_is_spelt_out_twice() -> None:
    spelt = {
        name: 'Literal["' + '", "'.join(typing.get_args(getattr(vocab, name))) + '"]'
        for name in ("ActivationSite", "SaeCode", "OneToOneRule", "RsaInner", "PValueRule", "DeadPolicy")
    }
    for path in sorted((REPO_ROOT / "harness").rglob("*.py")):
        if path.name == "vocab.py":
            continue
        text = path.read_text()
        for name, literal in spelt.items():
            assert literal not in text, f"{path.relative_to(REPO_ROOT)} spells out {name}; import it from harness.vocab"
