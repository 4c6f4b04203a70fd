"""Model selection on real requests: the advisor vs plain baselines, on one frozen split.

Reads ``eval/real_requests.jsonl`` (real model-selection requests with ``good_models``
labelled before any run), keeps the rows of ``--split`` (default ``test``; the split is a
hash of ``source_url``, see :func:`advisor.eval.split_of`) and scores, per system, hit@5,
hit@1 and MRR@5 (a good model in the first 5 / first place / reciprocal rank), plus task
accuracy, intent recall and the share of off-task picks for the advisor (a shown model
whose pipeline tag is neither the request's task nor one that stands in for it, and that
the labellers did not name: the "wrong-task models" a reviewer counts as wrong):

- ``advisor``: :meth:`advisor.engine.Advisor.advise`, exactly as the chat answers (so a
  request that the intent detection does not see as a model choice scores 0);
- ``recommender``: :meth:`advisor.recommender.Recommender.recommend` on the text alone
  (what the Find-a-model tab and ``/recommend`` return);
- ``recommender, told the task``: the same with the gold pipeline tag given as the
  ``task`` filter (an upper bound that separates task inference from ranking);
- ``dense``: the first 5 distinct models of a plain dense search over model-card chunks;
- ``hub, told the task``: the 5 most downloaded models of the gold pipeline tag;
- ``hub search``: the Hub's search box: models whose id contains a word of the request,
  most downloaded first.

Run: ``python -m bench.selection_quality [--split test|tune] [--details OUT.jsonl]``
(needs a built ``index/``; ~1 minute).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

if __package__ in (None, ""):  # `python bench/selection_quality.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import md_table, setup_logging, write_result

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_QUESTIONS = ROOT / "eval" / "real_requests.jsonl"
DEFAULT_INDEX_DIR = ROOT / "index"
K = 5
MIN_SEARCH_WORD = 4  # Hub search words: shorter ones ("a", "for", "nlp") match everything


def score(good: list[str], got: list[str]) -> dict[str, float]:
    from advisor.eval import hit_at, reciprocal_rank

    return {"hit@5": float(hit_at(good, got, K)), "hit@1": float(hit_at(good, got, 1)),
            "mrr": reciprocal_rank(good, got, K)}


def all_models(index) -> dict:
    pool = dict(getattr(index, "models_2022", {}) or {})
    pool.update(index.models)
    return pool


def hub_told_task(pool: dict, task: str | None) -> list[str]:
    ranked = sorted((m for m in pool.values() if m.pipeline_tag == task),
                    key=lambda m: m.downloads, reverse=True)
    return [m.id for m in ranked[:K]]


def hub_search(pool: dict, text: str) -> list[str]:
    from advisor.tasks import content_words

    words = [w for w in content_words(text) if len(w) >= MIN_SEARCH_WORD]
    if not words:
        return []
    rx = re.compile("|".join(re.escape(w) for w in words))
    ranked = sorted((m for m in pool.values() if rx.search(m.id.lower())),
                    key=lambda m: m.downloads, reverse=True)
    return [m.id for m in ranked[:K]]


def off_task(got: list[str], good: list[str], task: str | None, pool: dict,
             learned: dict) -> tuple[int, int]:
    """``(off-task picks, tagged picks)`` of one list (untagged models are not judged)."""
    from advisor.pools import related_tasks

    ok = {task, *related_tasks(task, learned)} if task else set()
    tagged = [m for m in got if pool.get(m) is not None and pool[m].pipeline_tag]
    return sum(m not in good and pool[m].pipeline_tag not in ok for m in tagged), len(tagged)


def told_task(rec, row: dict) -> list[str]:
    """The recommender's picks with the gold task given as a filter (UI/API style)."""
    filters = {"task": row["task"]} if row.get("task") else None
    return [m.model_id for m in rec.recommend(row["question"], filters, k=K)]


def dense_models(index, text: str) -> list[str]:
    rows = index.rows_for(kind=["model", "model2026"])
    out: list[str] = []
    for row, _ in index.dense_search(index.embed_query(text), 60, rows=rows):
        mid = str(index.doc_ids[row]).split(":", 1)[-1]
        if mid not in out:
            out.append(mid)
        if len(out) == K:
            break
    return out


def main(split: str = "test", questions_path: Path = DEFAULT_QUESTIONS,
         index_dir: Path = DEFAULT_INDEX_DIR, details: Path | None = None,
         out_dir: Path | None = None) -> dict:
    from advisor.config import Config
    from advisor.engine import Advisor
    from advisor.eval import split_of

    rows = [json.loads(x) for x in Path(questions_path).read_text(encoding="utf-8").splitlines()
            if x.strip()]
    rows = [r for r in rows if r.get("good_models") and split_of(r["source_url"]) == split]
    cfg = Config.from_env(index_dir=Path(index_dir), disable_progress=True)
    adv = Advisor(cfg)
    index = adv.index
    rec = adv.parts.recommender
    pool = all_models(index)
    systems = ("advisor", "recommender", "recommender, told the task", "dense", "hub, told the task", "hub search")
    sums = {s: {"hit@5": 0.0, "hit@1": 0.0, "mrr": 0.0} for s in systems}
    from advisor.pools import load_related

    learned = load_related(Path(index_dir))
    intent = task_ok = off = judged = 0
    out = open(details, "w", encoding="utf-8") if details else None
    for r in rows:
        advice = adv.advise(r["question"])
        req, recs = rec.recommend_with_request(r["question"], k=K)
        got = {
            "advisor": [m.model_id for m in advice.models],
            "recommender": [m.model_id for m in recs],
            "recommender, told the task": told_task(rec, r),
            "dense": dense_models(index, r["question"]),
            "hub, told the task": hub_told_task(pool, r.get("task")),
            "hub search": hub_search(pool, r["question"]),
        }
        intent += bool(advice.models)
        o, t = off_task(got["advisor"], r["good_models"], r.get("task"), pool, learned)
        off, judged = off + o, judged + t
        task_ok += req.task == r.get("task")
        for s in systems:
            for key, v in score(r["good_models"], got[s]).items():
                sums[s][key] += v
        if out:
            out.write(json.dumps({"id": r["id"], "task": r.get("task"), "got_task": req.task,
                                  "task_confidence": req.task_confidence, **got},
                                 ensure_ascii=False) + "\n")
    if out:
        out.close()
    n = max(1, len(rows))
    table = [{"system": s, "requests": len(rows),
              **{k: round(v / n, 3) for k, v in sums[s].items()}} for s in systems]
    result = {"split": split, "n": len(rows), "systems": table,
              "intent_recall": round(intent / n, 3), "task_accuracy": round(task_ok / n, 3),
              "off_task_picks": round(off / max(1, judged), 3), "judged_picks": judged}
    result["path"] = str(write_result(f"selection_quality_{split}", result, out_dir))
    print(md_table(table))
    print(f"\nintent recall {result['intent_recall']}, task accuracy {result['task_accuracy']}, "
          f"off-task picks {result['off_task_picks']} of {judged} ({split}, n={len(rows)})")
    return result


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--split", choices=("tune", "test"), default="test")
    ap.add_argument("--questions", type=Path, default=DEFAULT_QUESTIONS)
    ap.add_argument("--index-dir", type=Path, default=DEFAULT_INDEX_DIR)
    ap.add_argument("--details", type=Path, default=None)
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    setup_logging(a.verbose)
    main(a.split, a.questions, a.index_dir, a.details)
