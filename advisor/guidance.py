"""The project's own per-category guidance, read from ``prompts/guidance/<slug>.md``.

One Markdown file per challenge category (file name = :func:`advisor.taxonomy.slug` of
the codebook name) with a ``# <category>`` title, a ``Subcategories:`` line and the
sections ``Summary``, ``Usual causes``, ``What to try``, ``Typical questions`` and
``Docs``. The offline composer shows causes and steps; the classifier trains on the typical
questions. Parsing is tolerant: headings are matched case-insensitively by their first
word, unknown sections are ignored, missing sections give empty lists, and a file whose
title is not a codebook name falls back to the category its file name is the slug of.

This module does not decide which guidance applies to a question (the classifier and the
composer do) and never reads corpus text: the guidance is written for this project.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from advisor.errors import CorpusNotFoundError
from advisor.taxonomy import CHALLENGE_CATEGORIES, canonical_category, slug

log = logging.getLogger(__name__)

PROMPTS_DIR = Path(__file__).resolve().parents[1] / "prompts" / "guidance"

# Section heading (lower-cased first words) -> Guidance field.
_SECTIONS = {
    "summary": "summary",
    "usual causes": "causes",
    "causes": "causes",
    "what to try": "steps",
    "steps": "steps",
    "typical questions": "typical_questions",
    "docs": "docs",
    "documentation": "docs",
}
_BULLET = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+(.*\S)\s*$")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
_URL = re.compile(r"https?://\S+")


@dataclass
class Guidance:
    """Readable advice for one challenge category (codebook name in ``category``)."""

    category: str
    summary: str
    causes: list[str] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    typical_questions: list[str] = field(default_factory=list)
    docs: list[tuple[str, str]] = field(default_factory=list)  # (title, url)
    subcategories: list[str] = field(default_factory=list)


def _section_key(heading: str) -> str | None:
    h = " ".join(heading.strip().lower().rstrip(":").split())
    for key, name in _SECTIONS.items():
        if h == key or h.startswith(key):
            return name
    return None


def _bullets(lines: list[str]) -> list[str]:
    """Bullet items; a non-bullet line continues the previous item."""
    items: list[str] = []
    for line in lines:
        m = _BULLET.match(line)
        if m:
            items.append(m.group(1))
        elif line.strip() and items:
            items[-1] = f"{items[-1]} {line.strip()}"
    return items


def _docs(lines: list[str]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for item in _bullets(lines) or [x for x in lines if x.strip()]:
        m = _LINK.search(item)
        if m:
            out.append((m.group(1).strip(), m.group(2).strip()))
            continue
        u = _URL.search(item)
        if u:
            title = item.replace(u.group(0), "").strip(" -:") or u.group(0)
            out.append((title, u.group(0)))
    return out


def parse_guidance(text: str, fallback_category: str | None = None) -> Guidance:
    """Parse one guidance file's Markdown. ``fallback_category`` names the category when
    the title is missing or not a codebook name."""
    title = ""
    subcats: list[str] = []
    sections: dict[str, list[str]] = {}
    current: str | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("# ") and not title:
            title = stripped[2:].strip()
            current = None
            continue
        if stripped.startswith("##"):
            current = _section_key(stripped.lstrip("#"))
            if current:
                sections.setdefault(current, [])
            continue
        if current is None and stripped.lower().startswith("subcategories:"):
            value = stripped.split(":", 1)[1].strip()
            if value and not value.startswith("("):
                subcats = [s.strip() for s in value.split(";") if s.strip()]
            continue
        if current:
            sections[current].append(line)
    category = canonical_category(title) if title else None
    if category is None or (title and category.lower() != title.lower() and fallback_category):
        category = fallback_category or category
    if category is None:
        raise ValueError(
            f"Guidance title {title!r} is not a codebook category; use one of "
            f"{', '.join(CHALLENGE_CATEGORIES)}."
        )
    summary = " ".join(x.strip() for x in sections.get("summary", []) if x.strip())
    return Guidance(
        category=category,
        summary=summary,
        causes=_bullets(sections.get("causes", [])),
        steps=_bullets(sections.get("steps", [])),
        typical_questions=_bullets(sections.get("typical_questions", [])),
        docs=_docs(sections.get("docs", [])),
        subcategories=subcats,
    )


def load_guidance(prompts_dir: Path = PROMPTS_DIR) -> dict[str, Guidance]:
    """Read every ``<slug>.md`` in ``prompts_dir`` into ``{codebook name: Guidance}``.

    Files whose name is not the slug of a challenge category are skipped with a warning;
    categories without a file are logged (the composer then shows no guidance for them).
    Raises :class:`CorpusNotFoundError` when the directory does not exist.
    """
    prompts_dir = Path(prompts_dir)
    if not prompts_dir.is_dir():
        raise CorpusNotFoundError(
            f"No guidance directory at {prompts_dir}. It ships with the repository "
            "(prompts/guidance); check out the full repository or pass prompts_dir."
        )
    by_slug = {slug(c): c for c in CHALLENGE_CATEGORIES}
    out: dict[str, Guidance] = {}
    for path in sorted(prompts_dir.glob("*.md")):
        category = by_slug.get(path.stem)
        if category is None:
            log.warning("Skipping %s: not the slug of a challenge category", path.name)
            continue
        try:
            g = parse_guidance(path.read_text(encoding="utf-8"), fallback_category=category)
        except (OSError, UnicodeDecodeError, ValueError) as e:
            log.warning("Skipping guidance %s: %s", path.name, e)
            continue
        if g.category != category:
            log.warning("%s has title %r; using %r from its file name", path.name, g.category, category)
            g.category = category
        out[category] = g
    missing = [c for c in CHALLENGE_CATEGORIES if c not in out]
    if missing:
        log.info("No guidance for: %s", ", ".join(missing))
    return out
