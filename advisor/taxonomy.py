"""The SANER 2024 taxonomy's names: canonical category names, slugs, and aliases.

The codebook (``codebook_challenges.csv``) is the source of truth for names; the
study's ``root_causes.csv`` spells some categories differently ("Training and
Pipeline", "External Platforms and Librairies"). :func:`canonical_category` maps any
such spelling to the codebook's exact name. This module reads no files; the builder's
taxonomy source does (:mod:`builder.sources.taxonomy`).
"""

from __future__ import annotations

import difflib
import re

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
