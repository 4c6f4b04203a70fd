"""Challenge categories on the study's own labels and on the old dev set (issue 13's
regression checks), with and without the index's fine-tuned head.

- **Root-cause codes, 10-fold CV**: the question codes of the 72 accepted answers
  (``root_causes.csv``, training texts of source ``root_cause``) are split into
  ``--folds`` folds; the classifier's mixture is refitted on the build's training texts
  without the held-out fold's codes and scores them. The head of ``index/`` never saw a
  root-cause code (it learns from the real posts only), so it is mixed in as built.
- **Dev set** (``eval/dev_questions.jsonl``, our own invented questions, a regression
  check and not a measure): the index's classifier as built, head on and off.

Both report top-1 and top-3. ``test`` is never read. Run: ``python -m
bench.category_regression [--folds 10]`` (needs ``index/``; ~3 minutes on 2 cores).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # `python bench/category_regression.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import cv_parser, print_tables, setup_logging, write_result

ROOT = Path(__file__).resolve().parents[1]
DEV_FILE = ROOT / "eval" / "dev_questions.jsonl"


def _row(name: str, gold: list[str], preds: list[list]) -> dict:
    cats = [[s.category for s in p] for p in preds]
    return {"set": name, "questions": len(gold),
            "top-1": round(float(np.mean([c[:1] == [g] for g, c in zip(gold, cats, strict=True)])), 3),
            "top-3": round(float(np.mean([g in c[:3] for g, c in zip(gold, cats, strict=True)])), 3)}


def main(folds: int = 10, index_dir: Path = ROOT / "index", embedder=None,
         out_dir: Path | None = None) -> dict:
    from advisor.classifier import TaxonomyClassifier
    from advisor.config import LABELLED_POSTS_FILE, Config
    from advisor.embedding import embedder_for
    from advisor.guidance import load_guidance
    from advisor.index import AdvisorIndex
    from advisor.known_issues import load_known_issues
    from advisor.labelled import known_issue_texts, labelled_posts, training_texts
    from advisor.memo import MemoEmbedder

    cfg = Config.from_env(index_dir=Path(index_dir), disable_progress=True)
    emb = MemoEmbedder(embedder or embedder_for(cfg), size=1_000_000, max_batch=1_000_000)
    index = AdvisorIndex.load(cfg, embedder=emb)
    built = TaxonomyClassifier.load(index.index_dir, emb)
    head = built.head
    posts = labelled_posts(Path(LABELLED_POSTS_FILE).parent) + known_issue_texts(load_known_issues())
    texts = training_texts(index.taxonomy, list(index.threads.values()), load_guidance(), posts)
    codes = [i for i, t in enumerate(texts) if t.source == "root_cause"]
    fold_of = np.random.default_rng(0).permutation(len(codes)) % folds
    gold, plain, mixed = [], [], []
    for f in range(folds):
        held = {codes[j] for j in range(len(codes)) if fold_of[j] == f}
        clf = TaxonomyClassifier().fit_texts([t for i, t in enumerate(texts) if i not in held], emb)
        qs = [texts[i].text for i in sorted(held)]
        gold += [texts[i].category for i in sorted(held)]
        plain += clf.predict_many(qs)
        if head is not None:
            clf.head = head
            mixed += clf.predict_many(qs)
    table = [_row("root-cause codes, mixture", gold, plain)]
    if head is not None:
        table.append(_row("root-cause codes, mixture + head", gold, mixed))
    dev = [json.loads(line) for line in DEV_FILE.read_text().splitlines() if line.strip()]
    dq, dg = [d["question"] for d in dev], [d["category"] for d in dev]
    if head is not None:
        table.append(_row("dev set, index classifier with head", dg, built.predict_many(dq)))
    built.head = None
    table.append(_row("dev set, index classifier without head", dg, built.predict_many(dq)))
    result = {"folds": folds, "head": head is not None, "table": table}
    result["path"] = str(write_result("category_regression", result, out_dir))
    print_tables(table)
    return result


if __name__ == "__main__":
    ap = cv_parser(__doc__, ROOT / "index")
    ap.set_defaults(folds=10)
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    setup_logging(a.verbose)
    main(a.folds, a.index_dir)
