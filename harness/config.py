"""Configuration dataclasses.

:class:`Procedure` holds every method choice on which Lan et al. 2024's code and text
disagree (see ``shared/reference/original-procedure.md``). Two presets:

- ``paper``: what the authors' code actually did, so the published numbers can be
  reproduced (block-input activations, pre-TopK latents, first-seen 1-1 rule, SVCCA with
  k = 1, correlation-RSA, p = mean(null >= observed), the space-splitting whole-word rule,
  Python-set column order in semantic subsets). ``docs/paper-procedure-audit.md`` checks
  every stage against the authors' code.
- ``corrected``: what the paper says it did, done right (block-output activations, the SAE's
  real sparse code, best-correlation 1-1, SVCCA keeping 99% of variance, masked BOS/pad
  positions, seeded nulls with +1-corrected p-values).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from harness.errors import ConfigError
from harness.vocab import (
    ActivationSite,
    ColumnOrder,
    DeadPolicy,
    OneToOneRule,
    PValueRule,
    RsaInner,
    SaeCode,
    WholeWordRule,
    check_choice,
)

__all__ = [
    "CORRECTED",
    "PAPER",
    "PAPER_JUNK_TOKENS",
    "PROCEDURES",
    "ActivationSite",
    "DeadPolicy",
    "OneToOneRule",
    "PValueRule",
    "Procedure",
    "RsaInner",
    "SaeCode",
    "get_procedure",
]

#: Appendix F non-concept list, as the authors' code spelled it. ``'\\n'`` is the two
#: characters backslash + n (a literal in some tokenizers' decodings); ``'\n'`` a newline.
#: ``'<pad>'`` is not in it: the authors added it for Gemma only (see
#: :data:`MODEL_JUNK_TOKENS`).
PAPER_JUNK_TOKENS: tuple[str, ...] = (
    ".",
    "\\n",
    "\n",
    "",
    " ",
    "-",
    "<bos>",
    ",",
    "!",
    "?",
    "<|endoftext|>",
    "|bos|",
)

#: Non-concept strings the authors' code added for some model families only, as
#: (case-insensitive substring of the model name, extra strings): ``'<pad>'`` for Gemma
#: (original-procedure.md, "Filters"). Pythia's list had no ``'<pad>'``.
MODEL_JUNK_TOKENS: tuple[tuple[str, tuple[str, ...]], ...] = (("gemma", ("<pad>",)),)


@dataclass(frozen=True)
class Procedure:
    """Method choices for one run. Every result records the procedure it ran under."""

    name: str
    """Preset name or a user label (appears in reports)."""
    activation_site: ActivationSite = "block_output"
    """``block_output`` = TL ``blocks.L.hook_resid_post`` (what the SAEs were trained on);
    ``block_input`` = HF ``hidden_states[L]``, the paper code's off-by-one."""
    sae_code: SaeCode = "sparse"
    """``sparse`` = the SAE's real code (TopK applied); ``pre_topk`` = dense ReLU latents
    ``relu((x - b_dec) W_enc + b_enc)`` as the paper's code used for EleutherAI SAEs."""
    mask_special_positions: bool = True
    """Drop BOS and padding positions from correlations and top-token search (paper: False)."""
    dead_features: DeadPolicy = "exclude"
    """``paper``: a dead (zero-variance) feature has correlation 0 with everything and a dead
    B feature's partner is index 0. ``exclude``: dead features are never partners and dead
    B features get partner -1 and correlation NaN; counts are reported."""
    top_k_positions: int = 5
    """Top activating positions per feature used by the token filters (Sec. 3, App. F)."""
    top_positions_require_active: bool = True
    """Only positions where the feature is > 0 count as top positions (paper: False, so a
    rarely active feature's 'top 5' can include positions where it is 0)."""
    junk_tokens: tuple[str, ...] = PAPER_JUNK_TOKENS
    """Non-concept token strings (Appendix F), for every model."""
    junk_tokens_by_model: tuple[tuple[str, tuple[str, ...]], ...] = MODEL_JUNK_TOKENS
    """Extra non-concept strings for models whose name contains the given substring
    (case-insensitive): the authors' ``'<pad>'`` for Gemma."""
    junk_include_tokenizer_specials: bool = True
    """Also treat the tokenizer's own special tokens as non-concept (paper: only its list)."""
    filter_nonconcept: bool = True
    """Drop pairs where either feature's top tokens contain a non-concept token."""
    filter_shared_token: bool = True
    """Keep only pairs whose top-token string sets intersect."""
    one_to_one: OneToOneRule = "best"
    """How many-to-1 pairs become 1-1: ``first_seen`` (the paper's code: the lowest B index
    per A feature), ``best`` (highest correlation per A feature), ``hungarian`` (optimal
    assignment, for subsets small enough), ``none`` (keep many-to-1)."""
    corr_threshold: float = 0.1
    """Pairs with correlation <= this are dropped (whole-space experiments)."""
    svcca_keep: float | int = 0.99
    """Float in (0, 1]: variance fraction (smallest k reaching it). Int: number of
    directions. The paper's code effectively used ``1`` (see original-procedure.md)."""
    svcca_max_k_fraction: float | None = 0.25
    """Cap k at floor(fraction * n) so small subspaces (n = 11..60) stay far from the
    trivial k ~ n regime; None = no cap (paper)."""
    rsa_inner: RsaInner = "correlation"
    """Inner similarity of RSA: the code used correlation, the text says Euclidean."""
    n_permutations: int = 1000
    """Null size for whole-space (layer-grid) tests."""
    n_permutations_semantic: int = 1000
    """Null size for semantic-subspace tests (Tables 1, 2, 9)."""
    n_random_subsets: int = 100
    """Draws for Test 2 (random subsets of the same sizes)."""
    p_rule: PValueRule = "plus_one"
    """``paper``: mean(null >= observed); ``plus_one``: (1 + #null >= obs) / (1 + N)."""
    alpha: float = 0.05
    """Significance level used by the claims."""
    seed: int = 0
    """Seed of every random draw (the paper's nulls were unseeded; we seed both presets)."""
    min_subspace_size: int = 3
    """A concept is skipped when either side has fewer features (paper: skip if <= 2)."""
    whole_word_rule: WholeWordRule = "punctuation"
    """How the semantic whole-word check (App. G) cuts the window idx-2..idx+1 into words.
    ``spaces`` (the authors' code): split on spaces only and remove only ``.`` ``,`` ``?``
    ``!`` and the two characters backslash-n from each piece, so "schedule:" or a word
    followed by a real newline is not the word. ``punctuation``: every punctuation
    character is a separator and any whitespace splits."""
    semantic_column_order: ColumnOrder = "sorted"
    """Column order of a semantic subset, which decides what "first seen" means for the
    ``first_seen`` 1-1 rule inside it (and which A column wins an exact correlation tie).
    ``python_set`` (the authors' code): ``list(s)`` of a Python set filled keyword by
    keyword in Table 4 order, each keyword's features ascending; the 1-1 rule walks B's
    columns in that order. ``sorted``: ascending feature ids (lowest B index first, like the
    whole-space code, which walks B in ascending order under both procedures)."""

    def __post_init__(self) -> None:
        def bad(option: str, value: object, allowed: str) -> ConfigError:
            return ConfigError(f"Procedure {self.name!r}: {option}={value!r} is invalid; use {allowed}.")

        vocabularies = {
            "activation_site": ActivationSite,
            "sae_code": SaeCode,
            "dead_features": DeadPolicy,
            "one_to_one": OneToOneRule,
            "rsa_inner": RsaInner,
            "p_rule": PValueRule,
            "whole_word_rule": WholeWordRule,
            "semantic_column_order": ColumnOrder,
        }
        for option, vocab in vocabularies.items():
            check_choice(option, getattr(self, option), vocab, where=f"Procedure {self.name!r}: ")
        keep = self.svcca_keep
        if isinstance(keep, bool) or not isinstance(keep, (int, float)):
            raise bad("svcca_keep", keep, "a float in (0, 1] or a positive int")
        if isinstance(keep, int) and keep < 1:
            raise bad("svcca_keep", keep, "a positive int number of directions")
        if isinstance(keep, float) and not 0.0 < keep <= 1.0:
            raise bad("svcca_keep", keep, "a variance fraction in (0, 1]")
        if self.svcca_max_k_fraction is not None and not 0.0 < self.svcca_max_k_fraction < 1.0:
            raise bad("svcca_max_k_fraction", self.svcca_max_k_fraction, "a fraction in (0, 1) or None")
        for option in ("n_permutations", "n_permutations_semantic", "n_random_subsets", "top_k_positions"):
            if int(getattr(self, option)) < 1:
                raise bad(option, getattr(self, option), "a positive integer")
        if not -1.0 <= self.corr_threshold < 1.0:
            raise bad("corr_threshold", self.corr_threshold, "a correlation in [-1, 1)")
        if not 0.0 < self.alpha < 1.0:
            raise bad("alpha", self.alpha, "a level in (0, 1)")
        if self.min_subspace_size < 2:
            raise bad("min_subspace_size", self.min_subspace_size, "an integer >= 2")

    def junk_for(self, *model_names: str) -> tuple[str, ...]:
        """:attr:`junk_tokens` plus the :attr:`junk_tokens_by_model` entries matching any of
        ``model_names`` (tokenizer specials are added by the caller, which has the tokenizer)."""
        junk = list(self.junk_tokens)
        names = [n.lower() for n in model_names]
        for family, extra in self.junk_tokens_by_model:
            if any(family.lower() in n for n in names):
                junk += [t for t in extra if t not in junk]
        return tuple(junk)

    def replace(self, **changes: Any) -> Procedure:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


#: The authors' code as it ran (original-procedure.md), with two deliberate deviations that
#: the report states: the null is seeded (the original was unseeded), and features never
#: active on the run's tokens never join a concept subspace (the original let dead latents,
#: whose "top 5" are the first positions of document 0, flood them; see docs/paper-tier.md,
#: known problem 5). Grid nulls: 100 permutations (main notebooks); the printed Pythia 1-1
#: grid used 20 and the Gemma grids 10 (profiles carry ``paper_grid_permutations``).
PAPER = Procedure(
    name="paper",
    activation_site="block_input",
    sae_code="pre_topk",
    mask_special_positions=False,
    dead_features="paper",
    top_positions_require_active=False,
    junk_include_tokenizer_specials=False,
    one_to_one="first_seen",
    svcca_keep=1,
    svcca_max_k_fraction=None,
    rsa_inner="correlation",
    n_permutations=100,
    n_permutations_semantic=1000,
    p_rule="paper",
    whole_word_rule="spaces",
    semantic_column_order="python_set",
)

CORRECTED = Procedure(name="corrected")

PROCEDURES: dict[str, Procedure] = {"paper": PAPER, "corrected": CORRECTED}


def get_procedure(name: str) -> Procedure:
    """Look up a preset by name, with a clear error for an unknown one."""
    try:
        return PROCEDURES[name]
    except KeyError:
        raise ConfigError(f"Unknown procedure {name!r}; known presets: {', '.join(sorted(PROCEDURES))}.") from None
