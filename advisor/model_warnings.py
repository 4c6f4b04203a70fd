"""A recommended model's warnings ("Watch out"), worded from data, most important first.

The recommender (:mod:`advisor.recommender`) decides which warnings apply to a model and
with what values (:class:`Warn`); :func:`render` words them from
``prompts/model_warnings.yaml`` and orders them as that file does: first what makes the
model a wrong fit for the request (another task, over the size budget), then what blocks
its use (gated, licence), then what its card leaves out. Each text is ``"<short>:
<detail>"``; tables show :func:`warning_label` (the short part) of the first few, so a
gated or wrong-task model is not hidden behind a thin-card note.

This module does not decide whether a warning applies.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

from advisor.config import PROMPTS_DIR
from advisor.datafiles import load_yaml

WARNINGS_FILE = PROMPTS_DIR / "model_warnings.yaml"
LABEL_SEP = ": "  # a warning's short label ends at the first one
LABEL_CHARS = 80  # a text with no separator this early is its own label, cut here


@dataclass(frozen=True)
class WarningText:
    short: str  # the label a table shows ("Gated", "Card lacks {sections}")
    detail: str  # what to do about it


@dataclass(frozen=True)
class Warn:
    """One warning that applies: its kind (a key of the data file) and the values its
    texts name."""

    kind: str
    fields: dict[str, str] = field(default_factory=dict)


@functools.lru_cache(maxsize=4)
def load_warning_texts(path: Path = WARNINGS_FILE) -> dict[str, WarningText]:
    """``{kind: WarningText}`` in the file's order (its order is the warnings' order).
    A kind without both texts, or a short label with the separator in it, is an error in
    the file."""
    data = load_yaml(Path(path).read_text(encoding="utf-8")) or {}
    out: dict[str, WarningText] = {}
    for kind, d in data.items():
        if not isinstance(d, dict) or not d.get("short") or not d.get("detail"):
            raise ValueError(f"{path}: {kind!r} needs a 'short' and a 'detail' text")
        if LABEL_SEP in str(d["short"]):
            raise ValueError(f"{path}: {kind!r}: 'short' may not contain {LABEL_SEP!r}")
        out[str(kind)] = WarningText(str(d["short"]), " ".join(str(d["detail"]).split()))
    return out


def render(found: list[Warn], texts: dict[str, WarningText] | None = None) -> list[str]:
    """The texts of ``found``, most important first (the data file's order), each
    ``"<short>: <detail>"``. An unknown kind raises ``KeyError``."""
    texts = texts or load_warning_texts()
    rank = {kind: i for i, kind in enumerate(texts)}
    out = []
    for w in sorted(found, key=lambda w: rank[w.kind]):
        t = texts[w.kind]
        out.append(f"{t.short.format(**w.fields)}{LABEL_SEP}{t.detail.format(**w.fields)}")
    return out


def warning_label(text: str) -> str:
    """A warning's short label: the text before its first ``": "`` (when that comes
    within :data:`LABEL_CHARS` and outside parentheses), else the text cut there."""
    head, sep, _ = text.partition(LABEL_SEP)
    if sep and len(head) <= LABEL_CHARS and head.count("(") == head.count(")"):
        return head
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1].rstrip() + "…"


def labels(warnings: list[str], limit: int) -> str:
    """The first ``limit`` warnings' labels, joined for a table cell."""
    return "; ".join(warning_label(w) for w in warnings[:limit])
