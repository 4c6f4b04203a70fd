"""Cross-validated task inference with a fine-tuned MiniLM task head (issue 9;
``bench/RESULTS.md``, twenty-ninth pass; the product ships it since the thirty-seventh
pass: :mod:`advisor.task_head`, :mod:`builder.task_head`, weight
:data:`advisor.task_head.W_HEAD`).

The twenty-eighth pass fine-tuned MiniLM on the labelled real posts to name their
challenge category and gained two points of held-out top-1. This script asks the same of
task inference: MiniLM with one linear layer, fine-tuned end to end
(:func:`builder.category_head.fit_text_head`, the category head's schedule) on the
labelled requests to name the pipeline tag each one needs, mixed into the request reading
of :class:`advisor.understanding.RequestUnderstanding` by :func:`advisor.taskmodel.blend`
at several weights (0: the reading without the head).

The pool and folds are those of ``python -m bench.task_cv`` (every row of
``eval/train_requests.jsonl`` and the ``tune`` half of ``eval/real_requests.jsonl``;
random folds, or ``--by-batch``: each collection batch held out whole). For each fold the
task model (:func:`bench.task_cv.fit_fold_models`) and the head are fitted on the other
folds, and every held-out request is read as the app reads it. Reported per head weight:
task accuracy of the full reading (top-1 and its top-3: the task and its two
alternatives), the task model + head alone, and the ``tune`` rows within the pool. The
held-out head probabilities are saved beside the result (``.npz``). ``test`` is never
read.

Run: ``python -m bench.task_head_cv [--folds 5] [--epochs 3] [--by-batch]`` (needs
``index/``; 5-9 minutes a fold on 2 cores with native bf16, 525 s on an AMD EPYC box). ``--limit N`` reads the
first N pooled requests only (a quick look).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # `python bench/task_head_cv.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import cv_parser, md_table, setup_logging, write_result

ROOT = Path(__file__).resolve().parents[1]
HEAD_WEIGHTS = (0.0, 0.2, 0.4, 0.5, 0.7)


def main(folds: int = 5, index_dir: Path = ROOT / "index", eval_dir: Path = ROOT / "eval",
         epochs: float = 3.0, by_batch: bool = False, limit: int | None = None,
         embedder=None, base_model: str | None = None, max_len: int | None = None,
         out_dir: Path | None = None) -> dict:
    from advisor.config import Config
    from advisor.index import AdvisorIndex
    from advisor.taskmodel import blend
    from advisor.tasks import parse_request
    from advisor.understanding import RequestUnderstanding
    from bench.task_cv import batch_folds, fit_fold_models, labelled_requests
    from builder.category_head import MAX_LEN, fit_text_head

    rows = labelled_requests(Path(eval_dir))[:limit]
    cfg = Config.from_env(index_dir=Path(index_dir), disable_progress=True)
    idx = AdvisorIndex.load(cfg, embedder=embedder)
    classes = sorted({r["task"] for r in rows})
    fold_of = (batch_folds(rows, folds) if by_batch
               else np.random.default_rng(0).permutation(len(rows)) % folds)
    qvecs = idx.embedder.encode([r["question"] for r in rows])
    head = np.zeros((len(rows), len(classes)), dtype=np.float32)
    for f in range(folds):
        tr = np.flatnonzero(fold_of != f)
        te = np.flatnonzero(fold_of == f)
        fitted = fit_text_head([rows[j]["question"] for j in tr], [rows[j]["task"] for j in tr],
                               classes, base_model or cfg.embed_model, epochs,
                               max_len=max_len or MAX_LEN, disable_progress=True,
                               what="task head")
        head[te] = fitted.proba([rows[j]["question"] for j in te])
    models = fit_fold_models(idx, Path(index_dir), rows, qvecs, fold_of, folds)

    read: dict[float, list[list[str]]] = {w: [[]] * len(rows) for w in HEAD_WEIGHTS}
    alone: dict[float, list[str | None]] = {w: [None] * len(rows) for w in HEAD_WEIGHTS}
    for f, model in enumerate(models):
        predict = model.predict
        reader = RequestUnderstanding(idx.models, idx, model)
        try:
            for j in np.flatnonzero(fold_of == f):
                votes = {c: float(head[j, k]) for k, c in enumerate(classes)}
                for w in HEAD_WEIGHTS:
                    def mixed(text, qvec=None, k=3, _w=w, _votes=votes, _predict=predict):
                        return blend(_predict(text, qvec, k=k), _votes, _w, "task head")[:k]
                    model.predict = mixed
                    req = reader.understand(parse_request(rows[j]["question"]), qvecs[j])
                    read[w][j] = [req.task] + [a[0] for a in req.task_alternatives]
                    alone[w][j] = mixed(rows[j]["question"], qvecs[j], k=len(model.labels))[0].task
        finally:
            model.predict = predict
    gold = [r["task"] for r in rows]
    tune = [j for j, r in enumerate(rows) if r["source"] == "real"]
    table = []
    for w in HEAD_WEIGHTS:
        table.append({
            "head weight": w,
            "task acc": round(float(np.mean([read[w][j][:1] == [g] for j, g in enumerate(gold)])), 3),
            "top-3": round(float(np.mean([g in read[w][j] for j, g in enumerate(gold)])), 3),
            "model + head alone": round(float(np.mean([alone[w][j] == g
                                                       for j, g in enumerate(gold)])), 3),
            "tune rows": (round(float(np.mean([read[w][j][:1] == [gold[j]] for j in tune])), 3)
                          if tune else None)})
    head_alone = float(np.mean([classes[int(k)] == g for k, g in zip(head.argmax(1), gold,
                                                                        strict=True)]))
    result = {"folds": folds, "by_batch": by_batch, "epochs": epochs, "requests": len(rows),
              "tune": len(tune), "head alone": round(head_alone, 3), "table": table}
    result["path"] = str(write_result("task_head_cv" + ("_by_batch" if by_batch else ""),
                                      result, out_dir))
    np.savez(Path(result["path"]).with_suffix(".npz"), head=head, fold=fold_of,
             classes=np.array(classes), gold=np.array(gold))
    print(md_table(table))
    print(f"\n{len(rows)} labelled requests ({len(tune)} tune), {folds}-fold"
          f"{' (each batch held out whole)' if by_batch else ''}; the head alone "
          f"{head_alone:.3f}")
    return result


if __name__ == "__main__":
    ap = cv_parser(__doc__, ROOT / "index")
    ap.add_argument("--epochs", type=float, default=3.0)
    ap.add_argument("--by-batch", action="store_true",
                    help="hold each collection batch out whole instead of random folds")
    ap.add_argument("--limit", type=int, default=None, help="the first N pooled requests only")
    args = ap.parse_args()
    setup_logging()
    main(args.folds, args.index_dir, epochs=args.epochs, by_batch=args.by_batch,
         limit=args.limit)
