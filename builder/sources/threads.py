"""Read the study's coded forum threads into :class:`ThreadInfo` records.

Sources: ``replication/coded_topics.csv`` (one row per code: running number, ``Topic#``,
``Tag``, ``Code``, then empty columns) grouped by topic id, joined with
``replication/root_causes.csv`` (72 accepted answers; ``accepted_coded`` is the topic id).

Forum tags are spelled inconsistently ("beginners"/"Beginners", "Flax/JAX projects"/
"Flax/JAX Projects"); each spelling maps to the file's most frequent spelling of the same
letters (ties: the one with more capitals). Root-cause threads get the study's label
(``label_source="root_causes"``, confidence 1.0, category via
:func:`advisor.taxonomy.canonical_category`); the subcategory is kept only when it
matches a codebook subcategory of that category. Other threads stay unlabelled here; the
classifier labels them later and marks the label as derived. This module does not build
documents (:mod:`builder.documents` does).
"""

from __future__ import annotations

import csv
import difflib
import logging
import re
from collections import Counter
from pathlib import Path

from advisor.corpus import require_corpus_path
from advisor.taxonomy import canonical_category
from advisor.types import THREAD_URL, ThreadInfo
from builder.report import SourceReport, iter_csv_rows

log = logging.getLogger(__name__)

CODED_TOPICS_CSV = "replication/coded_topics.csv"
ROOT_CAUSES_CSV = "replication/root_causes.csv"
SUBCATEGORY_MATCH_CUTOFF = 0.75  # "Fine-tuning" ~ "Fine-Tuning"; "GPU/Accelerate" stays raw


def _tag_key(tag: str) -> str:
    return re.sub(r"[^a-z0-9]", "", tag.lower())


def normalise_tags(tags: list[str]) -> dict[str, str]:
    """Map every spelling to the most frequent spelling with the same letters."""
    by_key: dict[str, Counter] = {}
    for t in tags:
        by_key.setdefault(_tag_key(t), Counter())[t] += 1
    mapping = {}
    for spellings in by_key.values():
        best = max(spellings, key=lambda s: (spellings[s], sum(c.isupper() for c in s), s))
        for s in spellings:
            mapping[s] = best
    return mapping


def _codebook_subcategories(corpus_dir: Path) -> dict[str, list[str]]:
    """Challenge category (codebook name) -> its subcategories; {} if the CSV is absent."""
    from builder.sources.taxonomy import CHALLENGES_CSV, _read_codebook_csv

    path = corpus_dir / CHALLENGES_CSV
    if not path.is_file():
        return {}
    out: dict[str, list[str]] = {}
    for e in _read_codebook_csv(path, "challenge", SourceReport("codebook")):
        if e.subcategory:
            out.setdefault(e.category, []).append(e.subcategory)
    return out


def _match_subcategory(raw: str, options: list[str]) -> str | None:
    if not raw.strip() or not options:
        return None
    by_key = {o.lower(): o for o in options}
    match = difflib.get_close_matches(raw.strip().lower(), list(by_key), n=1, cutoff=SUBCATEGORY_MATCH_CUTOFF)
    return by_key[match[0]] if match else None


def _read_coded_topics(path: Path, report: SourceReport) -> dict[int, tuple[list[str], list[str]]]:
    """topic id -> (tags, codes), in file order."""
    topics: dict[int, tuple[list[str], list[str]]] = {}
    for cells in iter_csv_rows(path, report, ("Topic#", "Tag", "Code"), "the study's coded_topics.csv"):
        topic_raw, tag, code = (c.strip() for c in cells)
        if not topic_raw.isdigit():
            report.skip("bad_topic_id", topic_raw)
            continue
        if not code:
            report.skip("empty_code", f"topic {topic_raw}")
            continue
        tags, codes = topics.setdefault(int(topic_raw), ([], []))
        tags.append(tag)
        codes.append(" ".join(code.split()))
        report.kept += 1
    return topics


def _read_root_causes(path: Path, report: SourceReport) -> dict[int, dict[str, str]]:
    out: dict[int, dict[str, str]] = {}
    with open(require_corpus_path(path), encoding="utf-8-sig", newline="") as f:
        for lineno, row in enumerate(csv.DictReader(f), start=2):
            report.line = lineno
            row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
            topic_raw = row.get("accepted_coded", "")
            if not topic_raw.isdigit():
                report.skip("root_cause_bad_topic_id", topic_raw)
                continue
            rc = {
                "question": row.get("Question Code", ""),
                "answer": row.get("Answer Code", ""),
                "root_cause": row.get("Root Cause", ""),
                "category_raw": row.get("Code Category", ""),
                "subcategory_raw": row.get("Code Subcategory", ""),
                "forum_category": row.get("Discourse Category", ""),
            }
            topic = int(topic_raw)
            if topic in out:
                # A topic with two accepted answers: the first row's label stays; the
                # second row's codes are appended so nothing the study wrote is lost.
                report.reasons["root_cause_merged_duplicate"] += 1
                first = out[topic]
                for key in ("question", "answer", "root_cause"):
                    if rc[key] and rc[key] not in first[key]:
                        first[key] = f"{first[key]}; {rc[key]}" if first[key] else rc[key]
                continue
            out[topic] = rc
    return out


def read_threads(corpus_dir: Path, report: SourceReport) -> list[ThreadInfo]:
    """One :class:`ThreadInfo` per coded topic, sorted by topic id."""
    corpus_dir = Path(corpus_dir)
    topics_path, rc_path = corpus_dir / CODED_TOPICS_CSV, corpus_dir / ROOT_CAUSES_CSV
    report.add_files(require_corpus_path(topics_path), require_corpus_path(rc_path))
    topics = _read_coded_topics(topics_path, report)
    root_causes = _read_root_causes(rc_path, report)
    report.line = None
    tag_map = normalise_tags([t for tags, _ in topics.values() for t in tags if t])
    subcats = _codebook_subcategories(corpus_dir)

    threads: list[ThreadInfo] = []
    for topic_id in sorted(topics):
        tags, codes = topics[topic_id]
        forum = Counter(tag_map.get(t, t) for t in tags if t)
        t = ThreadInfo(
            topic_id=topic_id,
            forum_category=forum.most_common(1)[0][0] if forum else "",
            codes=codes,
            url=THREAD_URL.format(id=topic_id),
        )
        rc = root_causes.get(topic_id)
        if rc is not None:
            t.root_cause = rc
            t.category = canonical_category(rc["category_raw"])
            if t.category is None:
                log.warning("thread %d: root-cause category %r matches no codebook category",
                            topic_id, rc["category_raw"])
            else:
                t.subcategory = _match_subcategory(rc["subcategory_raw"], subcats.get(t.category, []))
                t.confidence = 1.0
                t.label_source = "root_causes"
        threads.append(t)
    missing = sorted(set(root_causes) - set(topics))
    for topic_id in missing:
        report.skip("root_cause_topic_not_coded", str(topic_id))
    return threads
