"""Cross-validated task inference on real requests: the task model and the full request
reading (task model + nearest cards + named models + task words + library), held out.

The task model (:mod:`advisor.taskmodel`) learns from the index's model cards and from
labelled real requests. Scoring it on requests it was fitted on says nothing, and the
``tune`` half of ``eval/real_requests.jsonl`` alone (52 requests) is too small to choose
its settings. This script pools the labelled requests that may be learned from (every
row of ``eval/train_requests.jsonl`` and the ``tune`` half of the real requests; never
``test``), splits them into ``--folds`` folds, refits the task model without each fold in
turn (the card part of the training set is the same every time) and reads each held-out
request with :class:`advisor.understanding.RequestUnderstanding` exactly as the app does.

It reports task accuracy (top-1, and top-3 of the task model alone) per setting of the
blend weights of :mod:`advisor.understanding` (``W_KNN``, ``W_MENTION``, ``W_CUE``) and
of the task model's ``w_text``; settings that need a refit (``REQUEST_WEIGHT``,
``C_TEXT``...) are compared by running the script once per value with ``--set``.

Run: ``python -m bench.task_cv [--folds 5] [--set taskmodel.REQUEST_WEIGHT=50]
[--grid W_CUE=0.25,0.15] [--by-batch]``
(needs a built ``index/``; ~2 minutes per fold on 2 cores).
"""

from __future__ import annotations

import importlib
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # `python bench/task_cv.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import cv_parser, md_table, setup_logging, write_result

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger("bench.task_cv")

# The grid read after the folds are fitted (no refit needed): current values first.
GRID = {"W_TEXT": (0.65, 0.5, 0.8), "W_KNN": (0.1, 0.05, 0.2), "W_MENTION": (0.15, 0.05, 0.25),
        "W_CUE": (0.15, 0.05, 0.25)}


def labelled_requests(eval_dir: Path) -> list[dict]:
    """Rows that task inference may learn from: all training requests and the ``tune``
    half of the real requests (``source`` says which)."""
    from advisor.eval import split_of

    out = []
    for name, keep in (("train_requests.jsonl", lambda r: True),
                       ("real_requests.jsonl", lambda r: split_of(r["source_url"]) == "tune")):
        path = eval_dir / name
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            r = json.loads(line)
            if r.get("question") and r.get("task") and keep(r):
                out.append({"id": r["id"], "question": r["question"], "task": r["task"],
                            "source": name.split("_")[0]})
    return out


def apply_sets(sets: list[str]) -> dict[str, str]:
    """``module.NAME=value`` overrides (e.g. ``taskmodel.REQUEST_WEIGHT=50``)."""
    done = {}
    for s in sets:
        target, value = s.split("=", 1)
        mod_name, attr = target.rsplit(".", 1)
        mod = importlib.import_module(f"advisor.{mod_name}")
        old = getattr(mod, attr)
        setattr(mod, attr, type(old)(value))
        done[target] = value
    return done


def batch_folds(rows: list[dict], folds: int) -> np.ndarray:
    """Fold of each row with every collection batch (the id before its last ``-``, e.g.
    ``tr24a``) held out whole: a batch's requests were collected by one helper in one
    go, so they share wording and sources that random folds would let leak."""
    batches = sorted({r["id"].rsplit("-", 1)[0] for r in rows})
    order = np.random.default_rng(0).permutation(len(batches))
    fold_of_batch = {batches[j]: k % folds for k, j in enumerate(order)}
    return np.array([fold_of_batch[r["id"].rsplit("-", 1)[0]] for r in rows])


def parse_grid(specs: list[str]) -> dict[str, tuple[float, ...]]:
    """``NAME=v1,v2,...`` (first value: the one the others are compared against).
    Raises ValueError naming the bad spec."""
    out = {}
    for spec in specs:
        name, _, vals = spec.partition("=")
        try:
            out[name.strip()] = tuple(float(v) for v in vals.split(","))
        except ValueError:
            raise ValueError(f"--grid {spec!r}: expected NAME=v1,v2 with numbers, "
                             "e.g. W_CUE=0.25,0.15") from None
        if not name.strip():
            raise ValueError(f"--grid {spec!r}: expected NAME=v1,v2, e.g. W_CUE=0.25,0.15")
    return out


def fit_fold_models(idx, index_dir: Path, rows: list[dict], qvecs: np.ndarray,
                    fold_of: np.ndarray, folds: int) -> list:
    """One task model per fold, fitted as the build does (the index's tagged model
    chunks and the task descriptions) with the labelled requests of the other folds."""
    import faiss

    from advisor.taskmodel import TaskModel, card_training_text
    from advisor.tasks import load_task_specs
    from builder.taskfit import MODEL_KINDS

    vectors = faiss.read_index(str(Path(index_dir) / "vectors.faiss"))
    vectors = vectors.reconstruct_n(0, vectors.ntotal)
    card_rows, x_text, y = [], [], []
    for i, (kind, doc_id) in enumerate(zip(idx.kinds, idx.doc_ids, strict=True)):
        m = idx.models.get(str(doc_id).split(":", 1)[-1]) if kind in MODEL_KINDS else None
        if m is not None and m.pipeline_tag:
            card_rows.append(i)
            x_text.append(card_training_text(idx.chunk_text(i), m.pipeline_tag))
            y.append(m.pipeline_tag)
    x_vec = vectors[card_rows]
    specs = load_task_specs()
    desc = {t: f"{s.title}. {s.description}" for t, s in specs.items() if s.description}
    dvec = idx.embedder.encode(list(desc.values()))
    desc_vectors = {t: dvec[j] for j, t in enumerate(desc)}
    out = []
    for f in range(folds):
        t0 = time.perf_counter()
        tr = [j for j in range(len(rows)) if fold_of[j] != f]
        out.append(TaskModel.fit(x_text, x_vec, y, descriptions=desc,
                                 description_vectors=desc_vectors,
                                 requests=[(rows[j]["question"], rows[j]["task"]) for j in tr],
                                 request_vectors=qvecs[tr]))
        log.info("fold %d/%d fitted in %.0f s", f + 1, folds, time.perf_counter() - t0)
    return out


def main(folds: int = 5, sets: list[str] | None = None, eval_dir: Path = ROOT / "eval",
         index_dir: Path = ROOT / "index", out_dir: Path | None = None,
         embedder=None, grid: dict[str, tuple[float, ...]] | None = None,
         by_batch: bool = False) -> dict:
    from advisor import understanding as U
    from advisor.config import Config
    from advisor.index import AdvisorIndex
    from advisor.tasks import parse_request

    overrides = apply_sets(sets or [])
    rows = labelled_requests(eval_dir)
    cfg = Config.from_env(index_dir=Path(index_dir), disable_progress=True)
    idx = AdvisorIndex.load(cfg, embedder=embedder)
    qvecs = idx.embedder.encode([r["question"] for r in rows])
    fold_of = (batch_folds(rows, folds) if by_batch
               else np.random.default_rng(0).permutation(len(rows)) % folds)
    fold_models = fit_fold_models(idx, Path(index_dir), rows, qvecs, fold_of, folds)

    guesses: dict[str, dict] = {}  # request id -> the first setting's reading

    def read_all(params: dict[str, float]) -> tuple[list[str | None], float, float]:
        for k, v in params.items():
            if k != "W_TEXT":  # the task model's own share, set on each fold's model
                setattr(U, k, v)
        got: list[str | None] = [None] * len(rows)
        top1 = top3 = 0
        for f, model in enumerate(fold_models):
            if "W_TEXT" in params:
                model.w_text = params["W_TEXT"]
            reader = U.RequestUnderstanding(idx.models, idx, model)
            for j in np.flatnonzero(fold_of == f):
                req = reader.understand(parse_request(rows[j]["question"]), qvecs[j])
                got[j] = req.task
                guesses.setdefault(rows[j]["id"], {
                    "gold": rows[j]["task"], "task": req.task,
                    "confidence": req.task_confidence,
                    "alternatives": [list(a) for a in req.task_alternatives]})
                alone = [g.task for g in model.predict(rows[j]["question"], qvecs[j], k=3)]
                top1 += alone[0] == rows[j]["task"]
                top3 += rows[j]["task"] in alone
        return got, top1 / len(rows), top3 / len(rows)

    def table_row(params: dict[str, float]) -> dict:
        got, alone1, alone3 = read_all(params)
        ok = [g == r["task"] for g, r in zip(got, rows, strict=True)]
        by = {src: float(np.mean([o for o, r in zip(ok, rows, strict=True) if r["source"] == src]))
              for src in ("train", "real")}
        log.info("%s -> %.3f", params, np.mean(ok))
        return {**params, "task acc": round(float(np.mean(ok)), 3),
                "train rows": round(by["train"], 3), "tune rows": round(by["real"], 3),
                "model alone top-1": round(alone1, 3), "top-3": round(alone3, 3)}

    grid = grid or GRID
    names = list(grid)
    found = {k: getattr(U, k) for k in names if k != "W_TEXT"}  # restored at the end
    defaults = {k: grid[k][0] for k in names}
    # one factor at a time around the current values, then the single-factor winners together
    table = [table_row(p) for p in [defaults] + [dict(defaults, **{k: v}) for k in names
                                                 for v in grid[k][1:]]]
    best = max(table, key=lambda r: r["task acc"])
    combo = {k: max((r for r in table if all(r[o] == defaults[o] for o in names if o != k)),
                    key=lambda r: r["task acc"])[k] for k in names}
    if combo != {k: best[k] for k in names} and combo != defaults:
        table.append(table_row(combo))
    for k, v in found.items():  # leave the module as found
        setattr(U, k, v)
    result = {"folds": folds, "by_batch": by_batch, "requests": len(rows),
              "overrides": overrides, "table": table,
              "held_out_readings": guesses}
    suffix = "_".join([f"{k.split('.')[-1]}{v}" for k, v in overrides.items()]
                      + (["by_batch"] if by_batch else []))
    result["path"] = str(write_result(f"task_cv{'_' + suffix if suffix else ''}", result, out_dir))
    print(md_table(table))
    print(f"\n{len(rows)} labelled requests ({sum(r['source'] == 'train' for r in rows)} training, "
          f"{sum(r['source'] == 'real' for r in rows)} tune), {folds}-fold"
          f"{' (each batch held out whole)' if by_batch else ''}; overrides {overrides or 'none'}")
    return result


if __name__ == "__main__":
    ap = cv_parser(__doc__, ROOT / "index")
    ap.add_argument("--set", action="append", default=[], dest="sets",
                    help="module.NAME=value override inside advisor (before fitting)")
    ap.add_argument("--grid", action="append", default=[],
                    help="NAME=v1,v2 (replaces the default grid; repeatable)")
    ap.add_argument("--by-batch", action="store_true",
                    help="hold each collection batch out whole instead of random folds")
    args = ap.parse_args()
    try:
        grid_arg = parse_grid(args.grid) if args.grid else None
    except ValueError as e:
        ap.error(str(e))
    setup_logging()
    main(args.folds, args.sets, index_dir=args.index_dir, grid=grid_arg, by_batch=args.by_batch)
