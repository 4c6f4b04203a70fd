"""Retrieval quality on the dev set: dense vs BM25 vs hybrid; recommender vs Hub ranking.

Relevance (binary, per document; a document's best chunk stands for it):

* a taxonomy entry is relevant when its category equals the question's ``category``;
* a thread is relevant when its category (the study's root-cause label or the
  classifier's derived one, stored in the index) equals the question's ``category``;
* a model card (2022 or 2026) is relevant when its id is in the question's ``good_models``
  (case-insensitive; a legacy id without owner, e.g. ``t5-small``, also matches
  ``google-t5/t5-small``).

Metrics over the questions that have at least one relevant document in the index:
``recall@5`` is capped recall, |relevant in top 5| / min(5, |relevant|) (a category can
have dozens of threads, so plain recall@5 would be tiny for any system), ``hit@5`` the
share of questions with any relevant document in the top 5, ``nDCG@10`` binary with the
ideal DCG over min(10, |relevant|). Modes are :class:`advisor.retrieval.HybridRetriever`'s
``dense``, ``bm25`` and ``hybrid`` (RRF).

Recommender vs a Hub-style baseline, on questions with ``good_models``: hit@5 of
:meth:`advisor.recommender.Recommender.recommend` (free text only) and of "the 5 most
downloaded models of the question's pipeline tag" (the dev set's ``task``, so the
baseline is *given* the task the recommender has to infer). Downloads are those the
index holds (2026 record preferred, else 2022).

Run: ``python -m bench.retrieval_quality`` (needs ``index/``; ~1-2 min).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

if __package__ in (None, ""):  # `python bench/retrieval_quality.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import DEFAULT_INDEX_DIR, REPO, print_tables, setup_logging, write_result

log = logging.getLogger(__name__)

DEV_QUESTIONS = REPO / "eval" / "dev_questions.jsonl"
MODES = ("dense", "bm25", "hybrid")
DEFAULT_K = 10  # documents retrieved; recall/hit use the first 5
DEFAULT_CUTOFF = 5


def _norm_id(model_id: str) -> str:
    return model_id.strip().lower()


def model_matches(model_id: str, good: Iterable[str]) -> bool:
    """Same id, or one side lacks an owner and the names agree (``t5-small``)."""
    a = _norm_id(model_id)
    for g in good:
        b = _norm_id(g)
        if a == b or (("/" not in a or "/" not in b) and a.split("/")[-1] == b.split("/")[-1]):
            return True
    return False


def doc_category_map(index) -> dict[str, str]:
    """doc id -> challenge category for taxonomy entries and labelled threads."""
    out: dict[str, str] = {}
    for entry in index.taxonomy:
        out[entry.id] = entry.category
    for topic, thread in index.threads.items():
        if thread.category:
            out[f"thread:{topic}"] = thread.category
    return out


def is_relevant(doc_id: str, question: dict, categories: dict[str, str]) -> bool:
    cat = categories.get(doc_id)
    if cat is not None:
        return bool(question.get("category")) and cat == question["category"]
    if doc_id.startswith(("model:", "model2026:")):
        return model_matches(doc_id.split(":", 1)[1], question.get("good_models") or [])
    return False


def relevant_total(index, question: dict, categories: dict[str, str]) -> int:
    """How many documents in the index are relevant to ``question``."""
    n = sum(1 for c in categories.values() if question.get("category") and c == question["category"])
    known = set(index.models) | set(getattr(index, "models_2022", {}) or {})
    n += sum(1 for g in question.get("good_models") or [] if any(
        model_matches(m, [g]) for m in known))
    return n


def ndcg(rels: Sequence[bool], n_relevant: int, k: int) -> float:
    dcg = sum(1.0 / math.log2(i + 2) for i, r in enumerate(rels[:k]) if r)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(k, n_relevant)))
    return dcg / ideal if ideal > 0 else 0.0


def _doc_ranking(hits) -> list[str]:
    seen: list[str] = []
    for h in hits:
        if h.doc_id not in seen:
            seen.append(h.doc_id)
    return seen


def eval_retrieval(index, retriever, questions: list[dict], k: int = DEFAULT_K,
                   cutoff: int = DEFAULT_CUTOFF) -> tuple[list[dict], int]:
    """Per-mode metrics rows and the number of questions scored."""
    categories = doc_category_map(index)
    scored = [(q, relevant_total(index, q, categories)) for q in questions]
    scored = [(q, n) for q, n in scored if n > 0]
    rows = []
    for mode in MODES:
        rec, hit, nd = [], [], []
        for q, n_rel in scored:
            docs = _doc_ranking(retriever.search(q["question"], k=k, mode=mode))
            rels = [is_relevant(d, q, categories) for d in docs]
            rec.append(sum(rels[:cutoff]) / min(cutoff, n_rel))
            hit.append(float(any(rels[:cutoff])))
            nd.append(ndcg(rels, n_rel, k))
        n = max(1, len(scored))
        rows.append({"mode": mode, "questions": len(scored),
                     f"recall@{cutoff}": round(sum(rec) / n, 4),
                     f"hit@{cutoff}": round(sum(hit) / n, 4),
                     f"nDCG@{k}": round(sum(nd) / n, 4)})
    return rows, len(scored)


def hub_baseline(index, task: str | None, k: int = DEFAULT_CUTOFF) -> list[str]:
    """The ``k`` most downloaded models of pipeline tag ``task`` the index knows."""
    if not task:
        return []
    pool = dict(getattr(index, "models_2022", {}) or {})
    pool.update(index.models)  # current record wins
    ranked = sorted((m for m in pool.values() if m.pipeline_tag == task),
                    key=lambda m: m.downloads, reverse=True)
    return [m.id for m in ranked[:k]]


def eval_recommender(index, retriever, questions: list[dict],
                     k: int = DEFAULT_CUTOFF) -> list[dict]:
    from advisor.recommender import Recommender

    rec = Recommender(index, retriever)
    qs = [q for q in questions if q.get("good_models")]
    ours, base = [], []
    for q in qs:
        got = [r.model_id for r in rec.recommend(q["question"], k=k)]
        ours.append(float(any(model_matches(m, q["good_models"]) for m in got[:k])))
        hub = hub_baseline(index, q.get("task"), k)
        base.append(float(any(model_matches(m, q["good_models"]) for m in hub)))
    n = max(1, len(qs))
    return [
        {"system": "Recommender.recommend (free text)", "questions": len(qs),
         f"hit@{k}": round(sum(ours) / n, 4)},
        {"system": "Hub-style: top downloads of the given task", "questions": len(qs),
         f"hit@{k}": round(sum(base) / n, 4)},
    ]


def main(index_dir: Path = DEFAULT_INDEX_DIR, questions_path: Path = DEV_QUESTIONS,
         embedder=None, limit: int | None = None, out_dir: Path | None = None) -> dict:
    from advisor.config import Config
    from advisor.index import AdvisorIndex
    from advisor.retrieval import HybridRetriever

    cfg = Config.from_env(index_dir=Path(index_dir), disable_progress=True)
    index = AdvisorIndex.load(cfg, embedder=embedder)
    retriever = HybridRetriever(index, cfg)
    questions = [json.loads(line) for line in Path(questions_path).read_text().splitlines()
                 if line.strip()][:limit]
    retrieval, n_scored = eval_retrieval(index, retriever, questions)
    recommender = eval_recommender(index, retriever, questions)
    result = {"retrieval": retrieval, "recommender": recommender,
              "n_questions": len(questions), "n_scored": n_scored}
    result["path"] = str(write_result("retrieval_quality", result, out_dir))
    print_tables(retrieval, recommender)
    return result


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index-dir", type=Path, default=DEFAULT_INDEX_DIR)
    ap.add_argument("--questions", type=Path, default=DEV_QUESTIONS)
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    setup_logging(a.verbose)
    main(index_dir=a.index_dir, questions_path=a.questions)
