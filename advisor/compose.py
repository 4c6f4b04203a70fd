"""The offline grounded composer: evidence -> a structured markdown answer + citations.

Deterministic and CPU-only (the default answer path, and the fallback when an LLM
backend fails). Sections, in order:

1. the specific fix(es): the known-issue entries matched (cause, the situation each
   applies to, steps, a snippet, docs and a solved thread), then "If that is not it, also
   check": the entries next in the learned order, one line each (written by
   :mod:`advisor.fix_sections`);
2. recommended models as a table (when a model choice was asked) with a runnable snippet;
3. the challenge category (+ subcategory) in one line: its confidence, the question words
   that decided it and the similar labelled posts it was read against (cited, not
   quoted); when the classifier is unsure it says so and names the top-3;
4. only when no known issue matched and the category is confident: "What usually causes
   this" and "What to try" from the project's guidance (``prompts/guidance``), ordered by
   overlap with the question's words, plus root causes of similar accepted answers;
5. similar forum threads, one line each (their category, and whether the study or a
   classifier labelled it, are said in Sources);
6. "Sources": every citation, numbered (not one of ``Composed.sections``: rendered from
   ``Composed.citations`` by :func:`sources_section`, the one citation renderer).

Retrieved text (cards, codes) is data: HTML is escaped, markdown links/images are
reduced to their text, and table cells escape pipes (:mod:`advisor.markdown_safe`). This module does not retrieve,
classify or rank models; it only writes what it is given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from advisor.codefence import code_block
from advisor.evidence import read_post_item
from advisor.fix_sections import also_check_section, known_issue_section, reader_text
from advisor.formatting import card_quality_cell, human_count
from advisor.markdown_safe import safe_text, table_cell
from advisor.model_warnings import labels
from advisor.tasks import content_words
from advisor.taxonomy import slug
from advisor.types import (
    MODEL_URL,
    THREAD_URL,
    CategoryScore,
    Citation,
    Hit,
    ModelRecommendation,
    TaxonomyEntry,
)

TAXONOMY_URL = "https://github.com/mina-taraghi/SANER2024ReplicationPackage"
DEFAULT_MAX_CAUSES = 3  # a beginner reads 3 bullet points, not 12
DEFAULT_MAX_STEPS = 3
# Similar threads shown as evidence: 2 since the "also check" list (fortieth pass of
# bench/RESULTS.md) took the words of the third, which was rarely about the question
DEFAULT_MAX_THREADS = 2
SOURCE_TITLE_CHARS = 100  # a citation's title in the Sources list
# A similar thread's title in the list (the Sources list keeps SOURCE_TITLE_CHARS): on
# `tune`, 110 -> 60 characters took the median answer from 340 to 331 words with the same
# key points (0.655 / 0.629); two threads instead of three took it to 318 but lost key
# points (0.650 / 0.626).
THREAD_TITLE_CHARS = 60
DEFAULT_MAX_MODEL_CARDS = 3  # related model cards when no recommendation table
TABLE_WARNINGS = 3  # a model row names its first warnings by label (advisor.model_warnings)
# The category is stated as sure only from this confidence on. Re-calibrated when the
# classifier gained the kNN vote (its scores got more peaked): held-out 5-fold CV
# predictions on the `tune` questions are right 0.875 of the time at >= 0.60 (16 of 83),
# 0.93 at >= 0.65 (15), 0.85 at >= 0.50 (27). Re-calibrated again with the TF-IDF n-gram
# classifier (twenty-fifth pass; its scores are higher): held-out CV, the tune questions /
# all 2,675 posts, right 0.857 (42) / 0.897 (715) at >= 0.65, 0.889 (27) / 0.929 (536) at
# >= 0.70 (the old classifier: 0.933 / 0.921 at 0.65), so 0.70 keeps the margin.
SURE_CONFIDENCE = 0.70
# Category tips are shown from this confidence on: the second pass's threshold, chosen on
# `tune` for key points in the first screen; kept when the sure wording moved to 0.65.
TIPS_MIN_CONFIDENCE = 0.60
CPU_OK_PARAMS = 1_500_000_000  # fp32 weights of ~6 GB: the most a laptop CPU runs comfortably

@lru_cache(maxsize=4096)
def _word_set(text: str) -> frozenset[str]:
    """Content words of a (guidance) text, cached: the same texts recur every answer."""
    return frozenset(content_words(text))


def _relevance(words: set[str], text: str) -> int:
    return len(words & _word_set(text))


def matching_items(items: Sequence[str], words: set[str], limit: int) -> list[str]:
    """Items that share at least one content word with the question, best first: a tip
    is shown because it matches this question, not because it belongs to the category."""
    ranked = rank_by_question(items, words, len(items))
    return [it for it in ranked if _relevance(words, it) > 0][:limit]


def rank_by_question(items: Sequence[str], words: set[str], limit: int) -> list[str]:
    """The ``limit`` items sharing most words with the question; ties keep input order."""
    order = sorted(range(len(items)), key=lambda i: (-_relevance(words, items[i]), i))
    return [items[i] for i in order[:limit]]


def guidance_for(guidance: Mapping[str, Any] | None, category: str | None) -> Any | None:
    """Look guidance up by exact category name, then by slug."""
    if not guidance or not category:
        return None
    if category in guidance:
        return guidance[category]
    want = slug(category)
    for key, g in guidance.items():
        if slug(key) == want or slug(getattr(g, "category", "") or "") == want:
            return g
    return None


def _taxonomy_entry(index, category: str, subcategory: str) -> TaxonomyEntry | None:
    entries = [e for e in getattr(index, "taxonomy", []) or [] if e.kind == "challenge"]
    for e in entries:
        if e.category == category and (e.subcategory or "") == (subcategory or ""):
            return e
    for e in entries:
        if e.category == category and not e.subcategory:
            return e
    return None


def _thread_id(hit: Hit) -> int | None:
    try:
        return int(hit.doc_id.split(":", 1)[1])
    except (IndexError, ValueError):
        return None


@dataclass
class Composed:
    """The answer as sections (the engine streams them) plus the facts an LLM reuses."""

    sections: list[str] = field(default_factory=list)
    citations: list[Citation] = field(default_factory=list)
    causes: list[str] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)

    @property
    def markdown(self) -> str:
        """The sections, then the Sources list rendered from ``citations``."""
        return "\n\n".join(s for s in [*self.sections, sources_section(self.citations)] if s)


class _Cites:
    """Numbered, de-duplicated citations. Titles are kept as plain text (API clients get
    them so); :func:`sources_list` escapes them once for markdown."""

    def __init__(self):
        self.items: list[Citation] = []
        self._by_url: dict[str, int] = {}

    def add(self, kind: str, id_: str, url: str, title: str = "", note: str = "") -> int:
        if url in self._by_url:
            return self._by_url[url]
        self.items.append(Citation(kind=kind, id=id_, url=url, title=title, note=note))
        self._by_url[url] = len(self.items)
        return self._by_url[url]


def _category_section(categories, unsure, words, guidance, index, hits, cites) -> str:
    """One short paragraph: the category, its confidence, the evidence that decided and
    the codebook link. The generic definition is left to the linked codebook."""
    if not categories:
        return ("**Challenge category:** no category of the study's taxonomy fits this "
                "question well.")
    top = categories[0]
    name = top.category + (f" › {top.subcategory}" if top.subcategory else "")
    entry = _taxonomy_entry(index, top.category, top.subcategory)
    ref = ""
    if entry is not None:
        n = cites.add("taxonomy", entry.id, _taxonomy_url(entry), f"Codebook: {name}")
        ref = f" [{n}]"
    if unsure:
        alts = ", ".join(f"{c.category} ({c.score:.0%})" for c in categories[:3])
        line = (f"**Challenge category:** not sure; closest are {alts}{ref}. The exact error "
                "message or what you tried would narrow it down.")
    elif top.score < SURE_CONFIDENCE:
        line = f"**Challenge category:** probably {name} (confidence {top.score:.0%}){ref}."
    else:
        line = f"**Challenge category:** {name} (confidence {top.score:.0%}){ref}."
    evidence = getattr(top, "evidence", None) or []
    if evidence:
        said, posts = [], []
        for item in evidence[:3]:
            post = read_post_item(item)
            if post is None:
                said.append(safe_text(item, 120))
            elif post[1]:  # cited, not quoted: the post's words are the asker's, not advice
                n = cites.add("labelled_post", post[1], post[1], f"A similar question labelled {name}")
                posts.append(f"[{n}]")
            else:
                posts.append("")
        if posts:
            said.append(f"{len(posts)} similar labelled question{'s' if len(posts) > 1 else ''}"
                        + "".join(f" {p}" for p in posts if p))
        line += " Decided by: " + "; ".join(said) + "."
    else:
        same = [h for h in hits if h.kind == "thread" and _thread_category(index, h) == top.category]
        if same:
            line += f" {len(same)} of the most similar forum threads carry this label."
    return line


def _taxonomy_url(entry: TaxonomyEntry) -> str:
    """The replication package, anchored by entry (the codebook has no per-entry pages)."""
    return f"{TAXONOMY_URL}#{entry.id.split(':', 1)[1].replace(':', '-').replace('/', '-')}"


def _thread_category(index, hit: Hit) -> str | None:
    tid = _thread_id(hit)
    t = (getattr(index, "threads", None) or {}).get(tid) if tid is not None else None
    return t.category if t is not None else hit.metadata.get("category")


def _thread_label(thread) -> str:
    """A forum thread's category and who gave it (the study or a classifier), for its
    line in Sources wherever the answer cites it first ("" without a category)."""
    if thread is None or not thread.category:
        return ""
    src = "study label" if thread.label_source == "root_causes" else "derived label"
    return f"{thread.category}, {src}"


def _root_causes(index, hits: Sequence[Hit]) -> list[tuple[str, int]]:
    """(root cause text, topic id) from retrieved threads with an accepted answer."""
    out = []
    threads = getattr(index, "threads", None) or {}
    for h in hits:
        tid = _thread_id(h) if h.kind == "thread" else None
        t = threads.get(tid) if tid is not None else None
        rc = (t.root_cause or {}) if t is not None else {}
        text = next((v for k, v in rc.items() if "root" in k.lower() and v), None)
        if text:
            out.append((str(text), tid))
    return out


def _guidance_sections(g, words, index, hits, cites, composed: Composed) -> list[str]:
    sections = []
    causes = matching_items(list(getattr(g, "causes", []) or []), words, DEFAULT_MAX_CAUSES)
    steps = matching_items(list(getattr(g, "steps", []) or []), words, DEFAULT_MAX_STEPS)
    composed.causes, composed.steps = causes, steps
    lines = []
    if causes:
        lines += [f"- {c}" for c in causes]
    for text, tid in _root_causes(index, hits)[:1]:
        t = (getattr(index, "threads", None) or {}).get(tid)
        n = cites.add("thread", str(tid), THREAD_URL.format(id=tid),
                      thread_title(t, f"Forum thread {tid}"), _thread_label(t))
        lines.append(f"- In a similar thread the accepted answer found: {safe_text(text)} [{n}]")
        composed.causes.append(safe_text(text))
    if lines:
        sections.append("### What usually causes this\n" + "\n".join(lines))
    if steps:
        sections.append(
            "### What to try\n" + "\n".join(f"{i}. {s}" for i, s in enumerate(steps, 1))
        )
    docs = list(getattr(g, "docs", []) or [])
    if docs:
        refs = []
        for title, url in docs[:2]:
            n = cites.add("guidance", str(title), str(url), str(title))
            refs.append(f"- [{safe_text(title, 80)}]({url}) [{n}]")
        sections.append("### Read more\n" + "\n".join(refs))
    return sections


def _models_section(models: Sequence[ModelRecommendation], cites, request_line: str = "",
                    title: str = "Recommended models") -> str:
    rows = [
        f"### {title}",
        *([f"_{safe_text(request_line, 300)}_", ""] if request_line else []),
        "| # | Model | Task | Downloads | Likes | Size | Licence | Card quality | Watch out |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for i, m in enumerate(models, 1):
        url = m.url or MODEL_URL.format(id=m.model_id)
        n = cites.add("model", m.model_id, url, m.model_id)
        warn = labels(m.warnings, TABLE_WARNINGS)
        rows.append(
            f"| {i} | [{table_cell(m.model_id)}]({url}) [{n}] | {table_cell(m.pipeline_tag)} | "
            f"{human_count(m.downloads, '0')} | {m.likes:,} | {human_count(m.parameters, '?')} | "
            f"{table_cell(m.license or m.license_family or 'unknown')} | {card_quality_cell(m.card_quality, m.card_read)} | "
            f"{table_cell(warn, 120)} |"
        )
    top = models[0]
    if top.snippet:
        cpu = " (small enough for a CPU)" if top.parameters and top.parameters <= CPU_OK_PARAMS else ""
        rows.append(f"\nTry the first one{cpu}:\n\n{code_block(top.snippet)}")
    by_thread: dict[str, list[str]] = {}  # closest solved thread -> the models it named
    for m in models:
        if m.solved_like:
            by_thread.setdefault(m.solved_like, []).append(m.model_id)
    if by_thread:
        refs = []
        for url, mids in list(by_thread.items())[:2]:
            n = cites.add("solved_request", mids[0], url, f"Solved request naming {mids[0]}")
            refs.append(f"{' and '.join(table_cell(x) for x in mids[:3])} ([thread]({url}) [{n}])")
        rows.append("Suggested in answers to similar requests: " + "; ".join(refs) + ".")
    mentions = list(dict.fromkeys(x for m in models for x in m.thread_mentions))[:2]
    if mentions:
        rows.append(
            "What people struggled with for these model families in the forum: "
            + "; ".join(safe_text(x, 160) for x in mentions)
        )
    if any(m.source == "2022" for m in models):
        rows.append("_Download counts marked from the 2022 snapshot are monthly figures from then._")
    return "\n".join(rows)


def thread_title(thread, fallback: str = "") -> str:
    """A readable title for a coded thread: its real title when the builder fetched one,
    else its first question code (the coder's summary of what was asked)."""
    title = getattr(thread, "title", "") or ""
    if title:
        return title
    codes = list(getattr(thread, "codes", []) or [])
    return codes[0] if codes else fallback


def _evidence_section(index, hits: Sequence[Hit], cites,
                      max_threads: int = DEFAULT_MAX_THREADS) -> str:
    """Similar forum threads, one line each: a readable title and its link (the label is
    the citation's note, said in Sources). Model cards are not listed here (models appear only when a model choice is asked)."""
    lines = []
    threads = getattr(index, "threads", None) or {}
    for h in hits:
        if h.kind != "thread" or len(lines) >= max_threads:
            continue
        tid = _thread_id(h)
        t = threads.get(tid) if tid is not None else None
        url = THREAD_URL.format(id=tid) if tid is not None else h.url
        raw = thread_title(t, h.title) if t is not None else h.title
        title = safe_text(raw, THREAD_TITLE_CHARS)
        n = cites.add("thread", str(tid if tid is not None else h.doc_id), url, raw,
                      _thread_label(t))
        lines.append(f"- [{title}]({url}) [{n}]")
    if not lines:
        return ""
    return "### Similar forum threads\n" + "\n".join(lines)


SOURCES_HEADING = "### Sources"


def sources_list(citations: Sequence[Citation]) -> str:
    """The one citation renderer: numbered, inert links with their kind and note ("" for none)."""
    lines = []
    for i, c in enumerate(citations, 1):
        title = safe_text(c.title or c.id, SOURCE_TITLE_CHARS)
        kind = f"{c.kind}; {safe_text(c.note, SOURCE_TITLE_CHARS)}" if c.note else c.kind
        lines.append(f"{i}. [{title}]({c.url}) ({kind})" if c.url else f"{i}. {title} ({kind})")
    return "\n".join(lines)


def sources_section(citations: Sequence[Citation]) -> str:
    """``### Sources`` and :func:`sources_list` ("" without citations)."""
    return f"{SOURCES_HEADING}\n{sources_list(citations)}" if citations else ""


def compose(
    question: str,
    categories: Sequence[CategoryScore],
    unsure: bool,
    hits: Sequence[Hit],
    models: Sequence[ModelRecommendation],
    guidance: Mapping[str, Any] | None,
    index: Any,
    *,
    intent: str = "challenge",
    notes: Sequence[str] = (),
    known: Sequence[Any] = (),
    also: Sequence[Any] = (),
    request_line: str = "",
) -> Composed:
    """Build the answer section by section: the specific fix first (known issues), then
    models when a model choice was asked, then the category in one line, the category's
    tips that match the question (only when no specific fix matched and the category is
    confident), similar threads and the sources."""
    words = set(content_words(question))
    cites = _Cites()
    out = Composed()
    if notes:
        out.sections.append("\n".join(f"> _{safe_text(n, 300)}_" for n in notes))
    if known:
        out.sections.append(known_issue_section(known, cites))
        out.causes = [reader_text(m.issue.cause) for m in known]
        out.steps = [reader_text(s) for m in known for s in m.issue.fix]
        if also:
            out.sections.append(also_check_section(also, cites))
    if intent == "recommend" and models:
        out.sections.append(_models_section(models, cites, request_line))
    if intent == "recommend" and not models:
        out.sections.append(
            "### Recommended models\nNo known model fits all the constraints. Try removing "
            "the size, licence or language constraint, or describe the task differently."
        )
    out.sections.append(_category_section(categories, unsure, words, guidance, index, hits, cites))
    g = guidance_for(guidance, categories[0].category) if categories else None
    confident = bool(categories) and not unsure and categories[0].score >= TIPS_MIN_CONFIDENCE
    if g is not None and not known and confident and intent != "recommend":
        out.sections.extend(_guidance_sections(g, words, index, hits, cites, out))
    if intent != "recommend" and models:
        out.sections.append(_models_section(models, cites, request_line,
                                            title="Other models for this task"))
    out.sections.append(_evidence_section(index, hits, cites))
    out.citations = cites.items
    return out
