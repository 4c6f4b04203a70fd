"""Cross-validated choice of the intent model's threshold (advisor.intent.THRESHOLD).

The intent model decides whether an answer shows a model table. Its training rows are
labelled real questions (see :mod:`advisor.intent`); this script holds each fifth of them
out in turn (the training-only requests of ``eval/train_requests.jsonl`` stay in every
training fold, as in the build) and reports, per threshold, the **recall** on held-out
real model requests (a request that gets no models) and the **false-table rate** on
held-out real questions that are not model requests (an answer that shows models nobody
asked for: a reviewer counts those as misleading). Only ``tune`` rows are read.

With ``--task-gate`` every request is held out in turn (the training-only ones too) and
the table adds the borderline rule of :meth:`advisor.engine.Advisor.detect_intent`: a
question below the threshold but at or above ``advisor.intent.BORDERLINE`` shows models
when the task model reads a task in it with confidence at or above
``advisor.intent.BORDERLINE_TASK_CONFIDENCE`` (the task model has seen the requests, so
its confidence on them is read in-sample: the recall it adds is an upper bound; the
false tables are read fairly).

Run: ``python -m bench.intent_cv [--folds 5] [--thresholds 0.3 0.4 0.5 0.6 0.7]
[--task-gate [--gates 0.3:0.8 0.2:0.9]] [--by-batch]`` (~1 minute: one MiniLM pass over
~6,400 texts, then 5 small logistic regressions; ~7 minutes with the task gate, which
loads the index and reads the task of every question below the threshold).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # `python bench/intent_cv.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import cv_parser, md_table, setup_logging, write_result

ROOT = Path(__file__).resolve().parents[1]


def rows(eval_dir: Path) -> tuple[list[str], list[int], list[bool]]:
    """(texts, labels, held-out-able) in the order of advisor.intent.training_rows;
    training-only requests are never held out."""
    from advisor.intent import training_rows
    from advisor.labelled import training_requests

    texts, labels = training_rows(eval_dir)
    train_only = {q for q, _ in training_requests(eval_dir / "train_requests.jsonl")}
    return texts, labels, [t not in train_only for t in texts]


def row_ids(eval_dir: Path) -> dict[str, str]:
    """question text -> the id of its labelled row (``tr43a-012``): the id before its last
    ``-`` names the collection batch."""
    import json

    out: dict[str, str] = {}
    for f in sorted(eval_dir.glob("*.jsonl")):
        for line in f.read_text("utf-8").splitlines():
            if line.strip():
                r = json.loads(line)
                out.setdefault(r.get("question", ""), str(r.get("id", "")))
    return out


def fold_assignment(texts: list[str], holdable: list[bool], folds: int, eval_dir: Path,
                    by_batch: bool = False) -> np.ndarray:
    """Fold of each text (-1: never held out). Random over the holdable rows, or with
    ``by_batch`` each collection batch held out whole (:func:`bench.task_cv.batch_folds`)."""
    from bench.task_cv import batch_folds

    cand = np.flatnonzero(holdable)
    fold_of = np.full(len(texts), -1)
    if by_batch:
        ids = row_ids(eval_dir)
        fold_of[cand] = batch_folds([{"id": ids.get(texts[i], "")} for i in cand], folds)
    else:
        fold_of[cand] = np.random.default_rng(0).permutation(len(cand)) % folds
    return fold_of


def main(folds: int = 5, thresholds: tuple[float, ...] = (0.3, 0.4, 0.5, 0.6, 0.7),
         eval_dir: Path = ROOT / "eval", index_dir: Path = ROOT / "index",
         embedder=None, out_dir: Path | None = None, task_confidence=None,
         gates: tuple[tuple[float, float], ...] = ((0.3, 0.6), (0.3, 0.8), (0.4, 0.8)),
         by_batch: bool = False) -> dict:
    """``task_confidence(text, vec) -> float``: when given, every request is held out and
    the ``(borderline probability, task confidence)`` rules of ``gates`` are read too.
    ``by_batch``: each collection batch is held out whole (its neighbours then come from
    other collectors, as for questions nobody has collected yet)."""
    from advisor.config import Config
    from advisor.embedding import embedder_for
    from advisor.intent import IntentModel

    texts, labels, holdable = rows(eval_dir)
    if task_confidence is not None:
        holdable = [True] * len(texts)
    emb = embedder or embedder_for(Config.from_env(index_dir=index_dir, disable_progress=True))
    vecs = emb.encode(texts)
    y = np.asarray(labels)
    fold_of = fold_assignment(texts, holdable, folds, eval_dir, by_batch)
    probs = np.full(len(texts), np.nan)
    for f in range(folds):
        tr = np.flatnonzero(fold_of != f)
        te = np.flatnonzero(fold_of == f)
        m = IntentModel.fit([texts[i] for i in tr], vecs[tr], y[tr])
        for i in te:
            probs[i] = m.proba(texts[i], vecs[i])
    held = ~np.isnan(probs)
    pos, neg = held & (y == 1), held & (y == 0)
    table = [{"threshold": t, "recall": round(float((probs[pos] >= t).mean()), 3),
              "false tables": round(float((probs[neg] >= t).mean()), 3)}
             for t in thresholds]
    if task_confidence is not None:
        from advisor.intent import THRESHOLD

        conf = np.array([task_confidence(texts[i], vecs[i]) if probs[i] < THRESHOLD else 1.0
                         for i in range(len(texts))])
        for lo, c in gates:
            shown = (probs >= THRESHOLD) | ((probs >= lo) & (conf >= c))
            table.append({"threshold": f"{THRESHOLD}, or {lo} with task >= {c}",
                          "recall": round(float(shown[pos].mean()), 3),
                          "false tables": round(float(shown[neg].mean()), 3)})
    result = {"folds": folds, "by_batch": by_batch, "held_out_requests": int(pos.sum()),
              "held_out_other": int(neg.sum()), "training_only_requests": int((~np.asarray(holdable)).sum()),
              "table": table}
    result["path"] = str(write_result("intent_cv", result, out_dir))
    print(md_table(table))
    print(f"\n{result['held_out_requests']} requests and {result['held_out_other']} other "
          f"questions held out in turn; {result['training_only_requests']} training-only "
          "requests in every fold")
    return result


if __name__ == "__main__":
    ap = cv_parser(__doc__)
    ap.add_argument("--thresholds", type=float, nargs="+", default=[0.3, 0.4, 0.5, 0.6, 0.7])
    ap.add_argument("--task-gate", action="store_true",
                    help="hold out every request and read the borderline task-confidence rules")
    ap.add_argument("--gates", nargs="+", default=["0.3:0.6", "0.3:0.8", "0.4:0.8"],
                    help="borderline rules read with --task-gate, each PROBABILITY:TASK_CONFIDENCE")
    ap.add_argument("--by-batch", action="store_true",
                    help="hold out whole collection batches instead of random rows")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    setup_logging(a.verbose)
    gate = None
    if a.task_gate:
        from advisor.config import Config
        from advisor.engine import Advisor

        rec = Advisor(Config.from_env(index_dir=ROOT / "index", disable_progress=True)).parts.recommender

        def gate(text, vec):
            return float(rec.build_request(text, None, vec)[0].task_confidence or 0.0)
    gates = tuple(tuple(float(x) for x in g.split(":")) for g in a.gates)
    main(a.folds, tuple(a.thresholds), task_confidence=gate, gates=gates, by_batch=a.by_batch)
