"""Turn taxonomy entries and coded threads into retrievable :class:`Document` records.

- :func:`taxonomy_documents`: one document per codebook entry (a category without
  subcategories, or a subcategory) plus one per category that has subcategories, so a
  question can match either level. Text: name, definition, the example quote with its
  thread id, the count of codes. URL: the example's thread.
- :func:`thread_documents`: one per coded thread: forum category, all codes, the
  study's root cause when there is one, and the taxonomy label; a classifier label is
  written as a "derived label" with its confidence so no reader mistakes it for the
  study's own. When the build fetched the forum (``--fetch-threads``) the thread's real
  title is the document title and its first post ends the text; offline the title is
  "Forum thread <id> (<forum category>)".

- :func:`model_document`: one per model record (2022 card, 2026 metadata, live Hub): a
  compact metadata header (:func:`model_header`: task, library, languages, licence, size,
  downloads, likes, card quality, labels) as text, the card's prioritised sections
  (:func:`builder.cards.prioritised_sections`) as sections, and flat filter fields
  (:func:`model_metadata`) as metadata.

This module reads no files, parses no card (:mod:`builder.cards`) and does not chunk.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from advisor.formatting import human_count
from advisor.taxonomy import slug
from advisor.types import MODEL_URL, THREAD_URL, Document, ModelInfo, TaxonomyEntry, ThreadInfo
from builder.cards import is_missing_card, prioritised_sections


def _entry_url(entry: TaxonomyEntry) -> str:
    return THREAD_URL.format(id=entry.example_topic) if entry.example_topic else ""


def _example_line(entry: TaxonomyEntry) -> str:
    if not entry.example:
        return ""
    where = f" (forum thread {entry.example_topic})" if entry.example_topic else ""
    return f'Example{where}: "{entry.example}"'


def taxonomy_documents(entries: Iterable[TaxonomyEntry]) -> list[Document]:
    """Documents for categories and subcategories, in codebook order."""
    entries = list(entries)
    docs: list[Document] = []
    seen_categories: set[tuple[str, str]] = set()
    for e in entries:
        kind_word = "Challenge" if e.kind == "challenge" else "Benefit"
        count = f"The study coded {e.count} {e.kind} codes in this category." if e.count else ""
        key = (e.kind, e.category)
        if e.subcategory and key not in seen_categories:
            seen_categories.add(key)
            subs = [x for x in entries if (x.kind, x.category) == key and x.subcategory]
            docs.append(Document(
                id=f"taxonomy:{e.kind}:{slug(e.category)}",
                kind="taxonomy",
                title=f"{kind_word} category: {e.category}",
                text="\n".join(t for t in (
                    f"{kind_word} category: {e.category}.",
                    "Subcategories: " + "; ".join(f"{x.subcategory} ({x.definition})" for x in subs),
                    count,
                ) if t),
                url=_entry_url(subs[0]),
                metadata={"taxonomy_kind": e.kind, "category": e.category, "subcategory": "",
                          "count": e.count, "example_topic": subs[0].example_topic},
            ))
        name = f"{e.category} / {e.subcategory}" if e.subcategory else e.category
        docs.append(Document(
            id=e.id,
            kind="taxonomy",
            title=f"{kind_word}: {name}",
            text="\n".join(t for t in (
                f"{kind_word}: {name}.",
                f"Definition: {e.definition}",
                count,
                _example_line(e),
            ) if t),
            url=_entry_url(e),
            metadata={"taxonomy_kind": e.kind, "category": e.category,
                      "subcategory": e.subcategory, "count": e.count,
                      "example_topic": e.example_topic},
        ))
    return docs


def thread_documents(threads: Iterable[ThreadInfo]) -> list[Document]:
    """One document per thread, id ``thread:<topic id>``."""
    docs = []
    for t in threads:
        lines = [f"Hugging Face forum thread {t.topic_id} (category {t.forum_category or 'unknown'})."]
        if t.title:
            lines.append(f"Title: {t.title}")
        lines.append("What happened in the thread: " + "; ".join(t.codes) + ".")
        rc = t.root_cause or {}
        if rc.get("question"):
            lines.append(f"Question: {rc['question']}.")
        if rc.get("answer"):
            lines.append(f"Accepted answer: {rc['answer']}.")
        if rc.get("root_cause"):
            lines.append(f"Root cause: {rc['root_cause']}.")
        if t.category:
            label = t.category + (f" / {t.subcategory}" if t.subcategory else "")
            if t.label_source == "derived":
                lines.append(f"Challenge (derived label, confidence {t.confidence:.2f}): {label}.")
            else:
                lines.append(f"Challenge (labelled by the study): {label}.")
        if t.first_post:  # last: the study's codes and label stay in the first chunk
            lines.append(f"First post: {t.first_post}")
        docs.append(Document(
            id=f"thread:{t.topic_id}",
            kind="thread",
            title=t.title or f"Forum thread {t.topic_id} ({t.forum_category or 'unknown'})",
            text="\n".join(lines),
            url=t.url or THREAD_URL.format(id=t.topic_id),
            metadata={"topic_id": t.topic_id, "forum_category": t.forum_category,
                      "category": t.category, "subcategory": t.subcategory,
                      "confidence": t.confidence, "label_source": t.label_source,
                      "has_root_cause": bool(t.root_cause)},
        ))
    return docs


MAX_HEADER_LABELS = 8  # more labels than this are listed as "+N more" in the header


def model_header(info: ModelInfo) -> str:
    """The compact metadata text that opens every model's first chunk."""
    facts = [
        f"task: {info.pipeline_tag}" if info.pipeline_tag else "",
        f"library: {info.library}" if info.library else "",
        f"languages: {', '.join(info.languages[:6])}" if info.languages else "",
        f"license: {info.license} ({info.license_family})" if info.license else "",
        f"{human_count(info.parameters)} parameters" if info.parameters else "",
        f"{info.downloads:,} downloads" + (" (2022, monthly)" if info.source == "2022" else ""),
        f"{info.likes:,} likes",
    ]
    lines = [f"Model {info.id}. " + "; ".join(f for f in facts if f) + "."]
    if info.source != "2026":
        missing = f"; missing: {', '.join(info.missing_sections)}" if info.missing_sections else ""
        lines.append(f"Card quality {info.card_quality:.2f}{missing}.")
    if info.label_map:
        items = list(info.label_map.items())
        more = f" (+{len(items) - MAX_HEADER_LABELS} more)" if len(items) > MAX_HEADER_LABELS else ""
        lines.append("Labels: " + ", ".join(f"{k}={v}" for k, v in items[:MAX_HEADER_LABELS]) + more + ".")
    return "\n".join(lines)


def model_metadata(info: ModelInfo) -> dict[str, Any]:
    """Flat filter fields stored with every chunk of a model."""
    return {
        "model_id": info.id,
        "source": info.source,
        "task": info.pipeline_tag,
        "library": info.library,
        "languages": list(info.languages),
        "license": info.license,
        "license_family": info.license_family,
        "parameters": info.parameters,
        "downloads": info.downloads,
        "likes": info.likes,
        "card_quality": info.card_quality,
        "gated": info.gated,
    }


def model_document(info: ModelInfo, card_md: str | None, kind: str = "model") -> Document:
    """The retrievable document for a model: header text + prioritised card sections."""
    prefix = "model2026" if kind == "model2026" else "model"
    return Document(
        id=f"{prefix}:{info.id}",
        kind=kind,  # type: ignore[arg-type]
        title=info.id,
        text=model_header(info),
        url=MODEL_URL.format(id=info.id),
        metadata=model_metadata(info),
        sections=prioritised_sections(card_md) if card_md and not is_missing_card(card_md) else [],
    )
