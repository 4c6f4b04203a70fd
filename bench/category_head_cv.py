"""Cross-validated challenge categories with and without the fine-tuned head (issue 13's
method comparison: the classifier's mixture vs MiniLM fine-tuned on the real posts).

The pool is the one of ``python -m bench.category_cv --pool all``: the ``tune`` half of
``eval/real_questions.jsonl`` and ``eval/train_posts.jsonl``, split into the same
``--folds`` folds. For each fold the classifier (:mod:`advisor.classifier`, the build's
training texts, no head) and the head (:func:`builder.category_head.fit_category_head`,
``--epochs`` over the other folds' posts) are fitted, and each held-out question is scored
by the mixture alone, the head alone and the mixture with the head at several weights:
top-1, top-3, and how often a top score of at least 0.70 (the answer's "sure" threshold) is
right. The held-out probabilities are saved beside the result (``.npz``), so other mixes can
be read without refitting. ``test`` is never read.

Run: ``python -m bench.category_head_cv [--folds 5] [--epochs 3]`` (needs ``index/``; about
6 minutes a fold on 2 cores with native bf16). Options for a quick look: ``--limit N``
(the first N pool questions).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # `python bench/category_head_cv.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import cv_parser, print_tables, setup_logging, write_result

ROOT = Path(__file__).resolve().parents[1]
HEAD_WEIGHTS = (0.0, 0.2, 0.3, 0.4, 0.5, 1.0)
SURE_AT = 0.70


def scores(gold: np.ndarray, probs: np.ndarray) -> dict:
    """top-1, top-3 and the share right among top scores >= :data:`SURE_AT`."""
    order = np.argsort(-probs, axis=1)
    sure = probs.max(axis=1) >= SURE_AT
    return {"top-1": round(float(np.mean(order[:, 0] == gold)), 3),
            "top-3": round(float(np.mean((order[:, :3] == gold[:, None]).any(axis=1))), 3),
            "sure": int(sure.sum()),
            "sure right": round(float(np.mean(order[sure, 0] == gold[sure])), 3) if sure.any() else None}


def main(folds: int = 5, index_dir: Path = ROOT / "index", epochs: float = 3.0,
         limit: int | None = None, embedder=None, out_dir: Path | None = None,
         max_len: int | None = None) -> dict:
    from advisor.classifier import TaxonomyClassifier
    from advisor.config import LABELLED_POSTS_FILE, Config
    from advisor.embedding import embedder_for
    from advisor.eval import split_of
    from advisor.guidance import load_guidance
    from advisor.index import AdvisorIndex
    from advisor.known_issues import load_known_issues
    from advisor.labelled import known_issue_texts, read_labelled_posts, training_texts
    from advisor.memo import MemoEmbedder
    from advisor.taxonomy import CHALLENGE_CATEGORIES
    from builder.category_head import MAX_LEN, fit_category_head

    cfg = Config.from_env(index_dir=Path(index_dir), disable_progress=True)
    emb = MemoEmbedder(embedder or embedder_for(cfg), size=1_000_000, max_batch=1_000_000)
    index = AdvisorIndex.load(cfg, embedder=emb)
    # the pool and order of ``bench.category_cv --pool all``: tune questions, then posts
    eval_dir = Path(LABELLED_POSTS_FILE).parent
    tune = [q for q in read_labelled_posts(eval_dir / "real_questions.jsonl")
            if q.url and split_of(q.url) == "tune"]
    pool = (tune + read_labelled_posts(eval_dir / "train_posts.jsonl"))[:limit]
    fold_of = np.random.default_rng(0).permutation(len(pool)) % folds
    guidance, kb = load_guidance(), known_issue_texts(load_known_issues())
    cat_index = {c: i for i, c in enumerate(CHALLENGE_CATEGORIES)}
    gold, mix, head, fold = [], [], [], []
    for f in range(folds):
        held = [q for q, k in zip(pool, fold_of, strict=True) if k == f]
        kept = [q for q, k in zip(pool, fold_of, strict=True) if k != f]
        texts = training_texts(index.taxonomy, list(index.threads.values()), guidance, kept) + kb
        clf = TaxonomyClassifier().fit_texts(texts, emb)  # no head: the mixture alone
        qs = [q.text for q in held]
        mix.append(clf.proba_vectors(clf.featurize(qs), qs))
        fitted = fit_category_head(texts, cfg.embed_model, epochs, max_len=max_len or MAX_LEN,
                                   disable_progress=cfg.disable_progress)
        head.append(fitted.proba(qs))
        gold += [cat_index[q.category] for q in held]
        fold += [f] * len(held)
    g, pm, ph = np.array(gold), np.concatenate(mix), np.concatenate(head)
    table = [{"head weight": w, **scores(g, (1 - w) * pm + w * ph)} for w in HEAD_WEIGHTS]
    result = {"folds": folds, "epochs": epochs, "questions": len(pool),
              "split": "tune + training posts", "table": table}
    path = write_result("category_head_cv", result, out_dir)
    np.savez(Path(path).with_suffix(".npz"), gold=g, mixture=pm, head=ph, fold=np.array(fold))
    result["path"] = str(path)
    print_tables(table)
    return result


if __name__ == "__main__":
    ap = cv_parser(__doc__, ROOT / "index")
    ap.add_argument("--epochs", type=float, default=3.0)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    setup_logging(a.verbose)
    main(a.folds, a.index_dir, a.epochs, a.limit)
