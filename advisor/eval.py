"""Evaluate the advisor on a questions file, through the same code path as the app.

Usage::

    python -m advisor.eval eval/dev_questions.jsonl --index-dir index --details out.jsonl

Each input line is ``{"id", "question", "category", "subcategory", "task",
"good_models": [...], "key_points": [...]}`` (all but id and question optional). Every
question goes through :meth:`advisor.engine.Advisor.advise`; each ``--details`` line is
``{"id", "categories": [top-3 names], "subcategory", "models": [ids], "answer",
"citations": [{"kind", "id", "url"}], "known_issues": [entry ids matched], "latency_ms"}``. A JSON summary is printed on
stdout: n, category top-1/top-3 accuracy (over questions with a category), model
selection hit@5 (over questions with good_models; an entry without "/" is a family name
that matches when it is a case-insensitive substring of a recommended id), key-point
coverage (fraction of key_points found case-insensitively in the answer) and latency
p50/p95. Bad lines are reported on stderr and skipped.

This module does not build indexes or judge answer quality beyond these measures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import re
import sys
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from advisor.config import Config
from advisor.errors import AdvisorError
from advisor.evidence import without_words_items
from advisor.taxonomy import canonical_category
from advisor.types import Advice

log = logging.getLogger(__name__)

HIT_AT = 5  # the recommendation table shows 5 models


@dataclass
class Question:
    id: str
    question: str
    category: str | None = None
    subcategory: str | None = None
    task: str | None = None
    good_models: list[str] = field(default_factory=list)
    key_points: list[str] = field(default_factory=list)
    source_url: str | None = None
    known_issue: str | None = None  # id of the KB entry holding the accepted fix, if any


def read_questions(path: Path, errors: list[str]) -> Iterator[Question]:
    """Yield valid questions; append a message per bad line to ``errors``."""
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
                if not isinstance(d, dict):
                    raise ValueError("not a JSON object")
                qid, q = d.get("id"), d.get("question")
                if qid is None or not isinstance(q, str) or not q.strip():
                    raise ValueError("needs 'id' and a non-empty 'question'")
                good = d.get("good_models") or []
                keys = d.get("key_points") or []
                if not isinstance(good, list) or not isinstance(keys, list):
                    raise ValueError("'good_models' and 'key_points' must be lists")
                yield Question(
                    id=str(qid), question=q, category=d.get("category") or None,
                    subcategory=d.get("subcategory") or None, task=d.get("task") or None,
                    good_models=[str(x) for x in good], key_points=[str(x) for x in keys],
                    source_url=d.get("source_url") or None,
                    known_issue=d.get("known_issue") or None,
                )
            except ValueError as e:  # JSONDecodeError is a ValueError
                errors.append(f"{path}:{lineno}: skipped ({e})")


def model_matches(good: str, recommended: str) -> bool:
    """Exact id, or a family name (no "/") contained case-insensitively in the id."""
    if "/" in good:
        return good.lower() == recommended.lower()
    return good.lower() in recommended.lower()


def hit_at(good: Sequence[str], recommended: Sequence[str], k: int = HIT_AT) -> bool:
    return any(model_matches(g, r) for g in good for r in recommended[:k])


def split_of(source_url: str) -> str:
    """The frozen split of a real question: ``"tune"`` or ``"test"``, by a hash of its URL.

    sha256 of the URL (stripped); an even first byte is ``tune``. Never change this: the
    test half must stay unseen while the method is tuned."""
    return "tune" if hashlib.sha256(source_url.strip().encode("utf-8")).digest()[0] % 2 == 0 \
        else "test"


STEM_CHARS = 5  # a content word is compared by its first 5 letters ("tokenizer" ~ "tokenization")
FIRST_SCREEN_WORDS = 300  # what a reader sees before scrolling
_KP_WORD = re.compile(r"[a-z0-9_]+")


def _stems(text: str) -> set[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return {w[:STEM_CHARS] for w in _KP_WORD.findall(text.lower())
            if w not in ENGLISH_STOP_WORDS and len(w) > 2}


def key_point_found(point: str, answer: str, answer_stems: set[str] | None = None) -> bool:
    """A key point counts as found when at least half of its content words (5-letter
    stems, stop words removed) occur in the answer (``answer_stems``: its stems, when the
    caller already has them)."""
    want = _stems(point)
    if not want:
        return point.lower() in answer.lower()
    have = _stems(answer) if answer_stems is None else answer_stems
    return len(want & have) >= len(want) / 2


# The category line quotes the question's deciding words back ('Decided by: the words
# "padding side", ...'): they are the asker's words, not the answer's, so they never
# count as a key point found (they lifted `test` coverage 0.594 -> 0.629 on their own).
def without_echo(answer: str) -> str:
    """``answer`` without the question words that the category line quotes back."""
    return without_words_items(answer)


def key_point_coverage(points: Sequence[str], answer: str) -> float:
    if not points:
        return 0.0
    have = _stems(answer)
    return sum(key_point_found(p, answer, have) for p in points) / len(points)


def first_words(text: str, n: int = FIRST_SCREEN_WORDS) -> str:
    return " ".join(text.split()[:n])


def reciprocal_rank(good: Sequence[str], recommended: Sequence[str], k: int = HIT_AT) -> float:
    for i, r in enumerate(recommended[:k]):
        if any(model_matches(g, r) for g in good):
            return 1.0 / (i + 1)
    return 0.0


def details_line(qid: str, advice: Advice) -> dict[str, Any]:
    top = advice.categories[0] if advice.categories else None
    return {
        "id": qid,
        "categories": [c.category for c in advice.categories[:3]],
        "subcategory": top.subcategory if top else "",
        "models": [m.model_id for m in advice.models],
        "answer": advice.answer,
        "citations": [{"kind": c.kind, "id": c.id, "url": c.url} for c in advice.citations],
        "known_issues": list(advice.known_issues),
        "also_check": list(advice.also_check),
        "latency_ms": round(advice.latency_ms, 2),
    }


def _mean(xs: list[float]) -> float | None:
    return round(float(np.mean(xs)), 4) if xs else None


def evaluate(questions_path: Path, cfg: Config, details_path: Path | None = None,
             advisor=None, limit: int | None = None, split: str | None = None) -> dict[str, Any]:
    """Run every question (of ``split`` when given: rows whose ``source_url`` hashes to
    it); write details; return the summary dict."""
    from advisor.engine import Advisor

    adv = advisor or Advisor(cfg)
    _ = adv.parts  # load before timing: latencies are warm, as in the running app
    bad: list[str] = []
    m: dict[str, list[float]] = defaultdict(list)  # measure -> one value per question
    n = errors = 0
    out = open(details_path, "w", encoding="utf-8") if details_path else None
    try:
        for q in read_questions(questions_path, bad):
            if limit is not None and n + errors >= limit:
                break
            if split and (not q.source_url or split_of(q.source_url) != split):
                continue
            try:
                advice = adv.advise(q.question)
            except AdvisorError as e:
                errors += 1
                bad.append(f"question {q.id}: not answered ({e})")
                continue
            n += 1
            line = details_line(q.id, advice)
            if out is not None:
                out.write(json.dumps(line, ensure_ascii=False) + "\n")
            m["latency"].append(advice.latency_ms)
            want = canonical_category(q.category) if q.category else None
            if want:
                got = [canonical_category(c) or c for c in line["categories"]]
                m["top1"].append(float(bool(got) and got[0] == want))
                m["top3"].append(float(want in got[:3]))
            body = "\n\n".join(advice.sections)  # the answer without its Sources
            m["words"].append(len(body.split()))
            if q.good_models:
                m["sel"].append(float(hit_at(q.good_models, line["models"])))
                m["sel1"].append(float(hit_at(q.good_models, line["models"], 1)))
                m["mrr"].append(reciprocal_rank(q.good_models, line["models"]))
                m["any_models"].append(float(bool(line["models"])))
                if q.task:
                    m["task_ok"].append(float(advice.task == q.task))
            if q.key_points:
                m["cover"].append(key_point_coverage(q.key_points, without_echo(advice.answer)))
                m["cover_first"].append(key_point_coverage(q.key_points,
                                                           first_words(without_echo(body))))
            if q.known_issue:
                m["kb_hit"].append(float(q.known_issue in advice.known_issues
                                         or q.known_issue in advice.also_check))
                m["kb_lead"].append(float(q.known_issue in advice.known_issues))
    finally:
        if out is not None:
            out.close()
    for msg in bad:
        print(msg, file=sys.stderr)
    lat, words = m["latency"], m["words"]
    return {
        "n": n,
        "skipped_lines": sum(1 for msg in bad if not msg.startswith("question ")),
        "errors": errors,
        "category_n": len(m["top1"]),
        "category_top1": _mean(m["top1"]),
        "category_top3": _mean(m["top3"]),
        "selection_n": len(m["sel"]),
        f"selection_hit@{HIT_AT}": _mean(m["sel"]),
        "selection_hit@1": _mean(m["sel1"]),
        "selection_mrr": _mean(m["mrr"]),
        "selection_intent_recall": _mean(m["any_models"]),
        "selection_task_accuracy": _mean(m["task_ok"]),
        "key_points_n": len(m["cover"]),
        "key_point_coverage": _mean(m["cover"]),
        f"key_point_coverage_first_{FIRST_SCREEN_WORDS}_words": _mean(m["cover_first"]),
        "answer_words_median": int(np.median(words)) if words else None,
        "known_issue_n": len(m["kb_hit"]),
        "known_issue_hit_rate": _mean(m["kb_hit"]),
        "known_issue_lead_rate": _mean(m["kb_lead"]),
        "latency_ms_p50": round(float(np.percentile(lat, 50)), 2) if lat else None,
        "latency_ms_p95": round(float(np.percentile(lat, 95)), 2) if lat else None,
        "backend": cfg.llm_backend,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m advisor.eval",
        description=__doc__.split("\n\n")[0],
        epilog="Example: python -m advisor.eval eval/dev_questions.jsonl --index-dir index "
               "--details eval_out.jsonl",
    )
    parser.add_argument("questions", type=Path, help="questions JSONL file")
    parser.add_argument("--index-dir", type=Path, default=None,
                        help="index directory (default: ADVISOR_INDEX_DIR or index/)")
    parser.add_argument("--details", type=Path, default=None, help="per-question JSONL output")
    parser.add_argument("--limit", type=int, default=None, help="answer only the first N")
    parser.add_argument("--split", choices=("tune", "test"), default=None,
                        help="only the rows of this frozen split (by a hash of source_url)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not args.questions.exists():
        print(f"No questions file at {args.questions}.", file=sys.stderr)
        return 1
    cfg = Config.from_env(index_dir=args.index_dir)
    try:
        summary = evaluate(args.questions, cfg, args.details, limit=args.limit, split=args.split)
    except AdvisorError as e:
        print(str(e), file=sys.stderr)
        return 1
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
