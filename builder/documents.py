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

Model documents are made by :func:`builder.cards.model_document`. This module reads no
files and does not chunk.
"""

from __future__ import annotations

from collections.abc import Iterable

from advisor.taxonomy import slug
from advisor.types import THREAD_URL, Document, TaxonomyEntry, ThreadInfo


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
