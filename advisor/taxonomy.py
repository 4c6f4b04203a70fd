"""The SANER 2024 taxonomy's names: canonical category names, slugs, and aliases; and
how category scores from several sources (classifier, known issues, explainer) mix.

The codebook (``codebook_challenges.csv``) is the source of truth for names; the
study's ``root_causes.csv`` spells some categories differently ("Training and
Pipeline", "External Platforms and Librairies"). :func:`canonical_category` maps any
such spelling to the codebook's exact name. This module reads no files; the builder's
taxonomy source does (:mod:`builder.sources.taxonomy`).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

from advisor.types import CategoryScore, Explanation

# The 17 challenge categories, exactly as the codebook spells them, in codebook order.
CHALLENGE_CATEGORIES: tuple[str, ...] = (
    "Model Usage and Understanding",
    "Training Pipeline",
    "Memory & Performance",
    "External Platforms & Libraries",
    "Tutorial & Documentation",
    "Dataset Acquisition & Usage",
    "Specific Solution Need",
    "Incomprehensible output",
    "HF Libraries' Features",
    "API Usage",
    "Website & Pricing",
    "Lack of Support",
    "Spaces",
    "Inference & Deployment",
    "Privacy & Security",
    "Onboarding",
    "Other Issues",
)

# Spellings seen in root_causes.csv (and plausible user spellings) -> codebook name.
_ALIASES = {
    "training and pipeline": "Training Pipeline",
    "training and finetuning issues": "Training Pipeline",
    "training and fine-tuning issues": "Training Pipeline",
    "external platforms and libraries": "External Platforms & Libraries",
    "external platforms and librairies": "External Platforms & Libraries",
    "dataset acquisition and usage": "Dataset Acquisition & Usage",
    "tutorial and documentation issues": "Tutorial & Documentation",
    "tutorial and documentation": "Tutorial & Documentation",
    "feature/model requests": "HF Libraries' Features",
    "api usage issue": "API Usage",
    "api usage issues": "API Usage",
    "privacy and security": "Privacy & Security",
    "website and pricing": "Website & Pricing",
    "incomprehensible output": "Incomprehensible output",
    "inference and deployment": "Inference & Deployment",
    "memory and performance": "Memory & Performance",
    "uncategorized": "Other Issues",
}


def slug(name: str) -> str:
    """``"Memory & Performance"`` -> ``"memory-performance"``."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def canonical_category(name: str | None) -> str | None:
    """Map a category spelling to the codebook's exact name, or ``None``.

    Compound labels such as "Model Usage and Understanding / Tutorial and
    Documentation" map to their first part.
    """
    if not name:
        return None
    name = name.split("/")[0] if " / " in name else name
    key = " ".join(name.strip().lower().split())
    if key in _ALIASES:
        return _ALIASES[key]
    by_key = {c.lower(): c for c in CHALLENGE_CATEGORIES}
    if key in by_key:
        return by_key[key]
    normalised = key.replace(" and ", " & ")
    if normalised in by_key:
        return by_key[normalised]
    match = difflib.get_close_matches(normalised, list(by_key), n=1, cutoff=0.75)
    return by_key[match[0]] if match else None


# --- mixing category scores from several sources ---------------------------------
DEFAULT_EXPLAINER_WEIGHT = 0.5  # share of the output explainer's categories when one of
# its detectors recognised a specific kind of pasted output (label ids, OOM, nan loss...):
# a detector that fired is more reliable than the text classifier on the same paste
# Sample weights per source: root-cause question codes are the only real, study-labelled
# forum questions; codebook examples are long and partly off-topic quotes.


def merge_explanation(
    scores: Sequence[CategoryScore],
    explanation: Explanation | None,
    weight: float = DEFAULT_EXPLAINER_WEIGHT,
    k: int = 3,
) -> list[CategoryScore]:
    """Mix the classifier's ``scores`` with the categories of an
    :class:`~advisor.types.Explanation` whose detectors found a specific kind (anything
    but ``"unknown"``): ``(1 - weight) * classifier + weight * explainer`` (the explainer's
    scores normalised to sum 1). Returns the top ``k``, best first; ``scores`` come back
    unchanged when the explainer recognised nothing specific."""
    if explanation is None or not explanation.recognised:
        return list(scores)[:k]
    return merge_categories(scores, explanation.categories, weight, k)


def merge_categories(scores: Sequence[CategoryScore], extra: Sequence[CategoryScore],
                     weight: float, k: int = 3) -> list[CategoryScore]:
    """``(1 - weight) * scores + weight * extra`` (``extra`` normalised to sum 1), top ``k``.
    Used when a known issue matched: its codebook category is evidence too. The top
    category keeps its evidence when it stays on top."""
    extra = [c for c in extra if c.category in set(CHALLENGE_CATEGORIES)]
    if not extra or weight <= 0:
        return list(scores)[:k]
    total = sum(max(0.0, c.score) for c in extra) or 1.0
    mixed: dict[str, float] = {}
    subs: dict[str, str] = {}
    for s in scores:
        mixed[s.category] = mixed.get(s.category, 0.0) + (1.0 - weight) * s.score
        subs.setdefault(s.category, s.subcategory)
    for c in extra:
        mixed[c.category] = mixed.get(c.category, 0.0) + weight * max(0.0, c.score) / total
        if c.subcategory:
            subs[c.category] = c.subcategory
    order = sorted(mixed, key=lambda c: -mixed[c])[: max(1, k)]
    out = [CategoryScore(c, subs.get(c, ""), float(round(mixed[c], 4))) for c in order]
    if scores and out[0].category == scores[0].category:
        out[0].evidence = list(scores[0].evidence)
    return out
