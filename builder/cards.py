"""Model-card parsing shared by every model source (2022 snapshot, live Hub).

What it does:
- :func:`parse_front_matter` / :func:`split_sections`: YAML front matter (tolerant: broken
  YAML gives ``{}`` and a flag, never an exception) and markdown sections (ATX headings
  outside fenced code; text before the first heading is the ``"description"``).
- :func:`card_quality`: score 0..1 = share of the 8 sections of ``docs/design.md`` that a
  card has, plus the list of missing ones.
- :func:`prioritised_sections`: the card's sections for retrieval, most useful first,
  boilerplate dropped.
- :func:`card_facts`: fills a :class:`ModelInfo`'s card fields (length, quality, missing
  sections, label map from :mod:`builder.labelmap`).

It does not read files or call the Hub (the sources in :mod:`builder.sources` do),
normalise model metadata (:mod:`builder.sources.metadata`) or shape the model
:class:`Document` (:mod:`builder.documents`).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import yaml

from advisor.datafiles import load_yaml
from advisor.types import ModelInfo
from builder.labelmap import extract_label_map

log = logging.getLogger(__name__)

# --- sections ------------------------------------------------------------------------
QUALITY_SECTIONS: tuple[str, ...] = (
    "description",
    "intended uses",
    "limitations/bias",
    "training data",
    "evaluation",
    "how-to-use code",
    "licence",
    "citation",
)
MIN_DESCRIPTION_CHARS = 80  # a one-line "hello" or a bare title is not a description
NO_CARD_MARKERS = ("Error: the path 'README.md' does not exist",)  # the 2022 scrape's "no card"

_FENCE = re.compile(r"^\s*(```|~~~)")
_ATX = re.compile(r"^\s{0,3}(#{1,6})\s+(.+?)\s*#*\s*$")
_BOLD_LINE = re.compile(r"^\s*(?:\*\*|__|<b>)(.{2,60}?)(?:\*\*|__|</b>)\s*:?\s*$", re.I)
_FRONT = re.compile(r"\A\ufeff?---[ \t]*\r?\n(.*?)\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.S)
_HOWTO_CODE = re.compile(r"\bpipeline\s*\(|\.from_pretrained\s*\(|SentenceTransformer\s*\(")
_CITATION_TEXT = re.compile(r"@(?:inproceedings|article|misc|InProceedings|techreport)\s*\{")

# Section kinds, by heading keywords, in retrieval priority order. ``None`` = boilerplate
# (dropped from retrieval text: citations, contacts, framework versions).
_KIND_PATTERNS: tuple[tuple[str | None, re.Pattern], ...] = (
    (None, re.compile(r"citation|cite|citing|bibtex|reference|acknowledg|contact|"
                      r"author|team member|framework version|about us|funding", re.I)),
    ("labels", re.compile(r"\blabel", re.I)),
    ("intended", re.compile(r"intended|\buses\b|use.?cases?|out.of.scope|limitation|bias|"
                            r"risk|ethic|caveat|disclaimer|fairness", re.I)),
    ("usage", re.compile(r"how to|usage|use (?:the|this|it)|example|quick.?start|getting started|"
                         r"inference|\bcode\b|\bdemo\b|in action|installation|\busing\b", re.I)),
    ("evaluation", re.compile(r"eval|result|performance|metric|benchmark|accuracy|score", re.I)),
    ("training data", re.compile(r"training (?:and evaluation )?data|dataset|\bdata\b|corpus", re.I)),
    ("description", re.compile(r"description|overview|introduction|about|summary|\bmodel\b|"
                               r"abstract|details|architecture", re.I)),
    ("training", re.compile(r"train|fine.?tun|pre.?train|hyperparameter|preprocess|procedure", re.I)),
)
SECTION_PRIORITY: tuple[str, ...] = (
    "description", "usage", "intended", "labels", "training data", "evaluation", "training", "other",
)


@dataclass
class FrontMatter:
    data: dict[str, Any]
    broken: bool = False  # YAML present but unparsable


def _strip_front(card_md: str) -> tuple[str | None, str]:
    m = _FRONT.match(card_md or "")
    if not m:
        return None, card_md or ""
    return m.group(1), card_md[m.end():]


def parse_front_matter(card_md: str) -> FrontMatter:
    """YAML between leading ``---`` lines; ``{}`` when absent; ``broken=True`` when invalid."""
    raw, _ = _strip_front(card_md)
    if raw is None:
        return FrontMatter({})
    try:
        # libyaml's C safe loader (advisor.datafiles): parsing 16k cards' front matter
        # took ~37 s of a 40 s no-change rebuild with the pure-Python one
        data = load_yaml(raw)
    except yaml.YAMLError as e:
        log.debug("broken YAML front matter: %s", e)
        return FrontMatter({}, broken=True)
    if data is None:
        return FrontMatter({})
    if not isinstance(data, dict):
        return FrontMatter({}, broken=True)
    return FrontMatter(data)


def is_missing_card(card_md: str | None) -> bool:
    text = (card_md or "").strip()
    return not text or any(text.startswith(m) for m in NO_CARD_MARKERS)


def _split_with_levels(card_md: str) -> list[tuple[int, str, str]]:
    """(level, heading, body) with front matter removed; level 0 = before any heading."""
    _, body = _strip_front(card_md or "")
    out: list[tuple[int, str, list[str]]] = [(0, "description", [])]
    in_code = False
    for line in body.splitlines():
        if _FENCE.match(line):
            in_code = not in_code
        elif not in_code:
            m = _ATX.match(line)
            if m:
                heading = re.sub(r"<[^>]+>|[*_`]", "", m.group(2)).strip()
                out.append((len(m.group(1)), heading or "section", []))
                continue
        out[-1][2].append(line)
    return [(lvl, h, "\n".join(lines).strip()) for lvl, h, lines in out]


def split_sections(card_md: str) -> list[tuple[str, str]]:
    """``[(heading, text), ...]`` in card order; headings inside code blocks are text.

    The text before the first heading is ``("description", ...)``; sections with no text
    are dropped.
    """
    return [(h, t) for _, h, t in _split_with_levels(card_md) if t]


def section_kind(heading: str) -> str | None:
    """Classify a heading: one of :data:`SECTION_PRIORITY`, or ``None`` for boilerplate."""
    for kind, pattern in _KIND_PATTERNS:
        if pattern.search(heading):
            return kind
    return "other"


def _headings(card_md: str) -> list[str]:
    """ATX headings plus bold-only lines (``**Labels**:``), outside code."""
    heads = [h for lvl, h, _ in _split_with_levels(card_md) if lvl > 0]
    in_code = False
    for line in _strip_front(card_md or "")[1].splitlines():
        if _FENCE.match(line):
            in_code = not in_code
        elif not in_code and (m := _BOLD_LINE.match(line)):
            heads.append(m.group(1))
    return heads


def _code_blocks(card_md: str) -> list[str]:
    blocks, cur, in_code = [], [], False
    for line in (card_md or "").splitlines():
        if _FENCE.match(line):
            if in_code:
                blocks.append("\n".join(cur))
                cur = []
            in_code = not in_code
        elif in_code:
            cur.append(line)
    return blocks


def card_quality(card_md: str, front_matter: dict | None) -> tuple[float, list[str]]:
    """(share of :data:`QUALITY_SECTIONS` present, names of the missing ones).

    A section counts as present when a heading (or bold pseudo-heading) names it; the
    description needs :data:`MIN_DESCRIPTION_CHARS` of text before the first heading, under
    the title heading, or under a description-like heading; how-to-use needs a code block
    calling ``pipeline(``/``from_pretrained(``; licence may come from front matter
    ``license``; evaluation from ``model-index``; training data from ``datasets``; citation
    from a BibTeX entry.
    """
    fm = front_matter or {}
    if is_missing_card(card_md):
        return 0.0, list(QUALITY_SECTIONS)
    parts = _split_with_levels(card_md)
    heads = " | ".join(_headings(card_md)).lower()
    first_titled = next((i for i, (lvl, _, _) in enumerate(parts) if lvl > 0), None)
    desc_ok = any(
        len(text) >= MIN_DESCRIPTION_CHARS
        and (i == 0 or i == first_titled or section_kind(h) == "description")
        for i, (_, h, text) in enumerate(parts)
    )
    present = {
        "description": desc_ok,
        "intended uses": bool(re.search(r"intended|\buses\b|use.?cases?|out.of.scope|"
                                        r"direct use|downstream use", heads)),
        "limitations/bias": bool(re.search(r"limitation|bias|risk|ethic|caveat|fairness", heads)),
        "training data": bool(re.search(r"train|dataset|\bdata\b|corpus|fine.?tun", heads))
        or bool(fm.get("datasets")),
        "evaluation": bool(re.search(r"eval|result|performance|metric|benchmark|accuracy", heads))
        or bool(fm.get("model-index") or fm.get("model_index")),
        "how-to-use code": any(_HOWTO_CODE.search(b) for b in _code_blocks(card_md)),
        "licence": bool(fm.get("license") or fm.get("licence"))
        or bool(re.search(r"licen[cs]e", heads)),
        "citation": bool(re.search(r"citation|cite|citing|bibtex", heads))
        or bool(_CITATION_TEXT.search(card_md)),
    }
    missing = [name for name in QUALITY_SECTIONS if not present[name]]
    return round(1 - len(missing) / len(QUALITY_SECTIONS), 3), missing


def prioritised_sections(card_md: str) -> list[tuple[str, str]]:
    """Card sections for retrieval, most useful first; boilerplate dropped.

    Order: :data:`SECTION_PRIORITY` (description, how-to-use, intended uses and
    limitations, labels, training data, evaluation, training procedure, other), card order
    within a kind. The first titled section counts as description when nothing precedes it.
    """
    parts = _split_with_levels(card_md)
    ranked: list[tuple[int, int, str, str]] = []
    first_titled = next((i for i, (lvl, _, _) in enumerate(parts) if lvl > 0), None)
    has_intro = bool(parts and parts[0][2])
    for i, (_, heading, text) in enumerate(parts):
        if not text:
            continue
        kind = "description" if i == 0 else section_kind(heading)
        if i == first_titled and not has_intro and kind in ("other", "description"):
            kind = "description"
        if kind is None:
            continue
        ranked.append((SECTION_PRIORITY.index(kind), i, heading, text))
    ranked.sort()
    return [(h, t) for _, _, h, t in ranked]


def card_facts(info: ModelInfo, card_md: str | None, front_matter: dict | None = None,
               config: dict | None = None) -> ModelInfo:
    """Fill ``card_chars``, ``card_quality``, ``missing_sections``, ``label_map`` in place."""
    card = "" if is_missing_card(card_md) else (card_md or "")
    info.card_chars = len(card)
    info.card_quality, info.missing_sections = card_quality(card, front_matter)
    fm = front_matter or {}
    info.label_map = extract_label_map(card, {"config": config or {}, "front_matter": fm})
    return info
