"""Input length: how many tokens a model request needs read at once, and how many a model
reads.

People ask for models for "documents of about 4K tokens", "inputs longer than 512", "a
long-document classifier": a model that stops at 512 tokens is the wrong pick for them
however popular it is. :func:`detect_min_tokens` reads the need from the request (numbers
of tokens or words, or "long documents" without a number); :func:`model_context` looks a
model up in ``prompts/context_lengths.yaml`` (model family -> most input tokens) by its
``model_type`` tags. The recommender's pools rank by the two (:mod:`advisor.pools`).

This module does not rank, and it says nothing about models whose family it does not
know (most 2026 records): unknown means no preference either way.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from advisor.config import PROMPTS_DIR
from advisor.datafiles import load_yaml
from advisor.types import ModelInfo

CONTEXT_FILE = PROMPTS_DIR / "context_lengths.yaml"
NEEDS_FROM = 512  # every text model reads this much: a smaller need is no constraint
LONG_WITHOUT_NUMBER = 2048  # "long documents", "a whole article": past the usual 512-1024
TOKENS_PER_WORD = 1.3  # English words per subword token on BERT-style vocabularies
_AMOUNT = re.compile(
    r"(?<![\w.])(\d{1,3}(?:[,.]\d{3})+|\d+(?:\.\d+)?)\s*(k|thousand)?[- ]?"
    r"(tokens?|words?|wordpieces?|subwords?)\b", re.IGNORECASE)
_LIMIT = re.compile(r"\b(longer than|more than|beyond|exceed\w*|over|above|past|limit\w*|"
                    r"cap(ped)?|truncat\w*|max(imum)?)\b", re.IGNORECASE)
_LONG = re.compile(
    r"\b(long|lengthy|large|whole|entire|full)[- ](documents?|texts?|inputs?|articles?|"
    r"contexts?|sequences?|reports?|papers?|transcripts?|books?|contracts?|patents?)\b|"
    r"\blong[- ]document\b|\blong[- ]context\b", re.IGNORECASE)


@functools.lru_cache(maxsize=2)
def load_context_lengths(path: Path = CONTEXT_FILE) -> dict[str, int]:
    """``{model_type tag: most input tokens}`` from the data file."""
    data = load_yaml(Path(path).read_text(encoding="utf-8")) or {}
    return {str(k).lower(): int(v) for k, v in data.items()}


def detect_min_tokens(text: str) -> tuple[int | None, str | None]:
    """``(tokens the request needs read at once, the cue)``, or ``(None, None)``.

    The largest amount of tokens (words count :data:`TOKENS_PER_WORD` each) named in the
    text; an amount named as a limit ("longer than 512", "a 512-token cap") needs one
    more. "Long documents" with no amount needs :data:`LONG_WITHOUT_NUMBER`. Needs up to
    :data:`NEEDS_FROM` are no constraint."""
    best, cue = 0, None
    for m in _AMOUNT.finditer(text or ""):
        n = float(m.group(1).replace(",", "")) * (1000 if m.group(2) else 1)
        if m.group(3).lower().startswith("word"):
            n *= TOKENS_PER_WORD
        before = text[max(0, m.start() - 30):m.start()]
        n = int(n) + (1 if _LIMIT.search(before) or _LIMIT.search(text[m.end():m.end() + 12])
                      else 0)
        if n > best:
            best, cue = n, m.group(0)
    if best <= NEEDS_FROM:
        long = _LONG.search(text or "")
        if not long:
            return None, None
        best, cue = max(best, LONG_WITHOUT_NUMBER), long.group(0)
    return best, f"'{cue}' -> inputs of {best:,} tokens"


def model_context(m: ModelInfo, lengths: dict[str, int] | None = None) -> int | None:
    """Most input tokens the model's family reads (the largest over its type tags), or
    ``None`` when no tag names a known family."""
    table = load_context_lengths() if lengths is None else lengths
    found = [table[t.lower()] for t in m.tags if t.lower() in table]
    return max(found) if found else None
