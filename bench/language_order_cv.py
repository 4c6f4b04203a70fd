"""Cross-validated accuracy of the learned language order (advisor.ask_language).

Of the labelled training requests (``eval/train_requests.jsonl``) that name two or more
languages and are not translation, those whose good models settle which language is
asked (:func:`advisor.ask_language.asked_language`, read with the index's model records)
are split by request into folds; each fold is scored by a model fitted without it. The
table gives how often the first language of the order is the asked one, against two
fixed orders: the first named (what the recommender did before) and the first named that
is not English. No ``tune`` or ``test`` row is read.

Run: ``python -m bench.language_order_cv [--folds 5] [--index-dir index] [--c 0.1 0.3 1 3]``
(under a minute: the index's model records, then a few small logistic regressions).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # `python bench/language_order_cv.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import cv_parser, print_tables, setup_logging, write_result

ROOT = Path(__file__).resolve().parents[1]


def cross_validate(rows, models, folds: int, cs) -> list[dict]:
    """One table row per fixed order and per ``C``: requests, first-is-asked share."""
    from advisor import ask_language as A

    order = np.random.default_rng(0).permutation(len(rows))
    fold_of = {int(i): k % folds for k, i in enumerate(order)}
    keyed = []  # (fold, question, features by language, asked)
    for i, (q, t, g) in enumerate(rows):
        for feats, asked in A.examples([(q, t, g)], models):
            keyed.append((fold_of[i], q, feats, asked))
    n = len(keyed)
    table = [
        {"order": "first named", "requests": n,
         "asked first": round(sum(list(f)[0] == a for _, _, f, a in keyed) / n, 3)},
        {"order": "first named that is not English", "requests": n,
         "asked first": round(sum(next((c for c in f if c != "en"), list(f)[0]) == a
                                  for _, _, f, a in keyed) / n, 3)},
    ]
    for c in cs:
        hits = 0
        for k in range(folds):
            train = [(q, t, g) for i, (q, t, g) in enumerate(rows) if fold_of[i] != k]
            model = A.fit(train, models, c=c)
            for fk, q, feats, asked in keyed:
                if fk == k:  # the order the app would apply
                    hits += model is not None and model.order(q, list(feats))[0] == asked
        table.append({"order": f"learned, C={c}", "requests": n,
                      "asked first": round(hits / n, 3)})
    return table


def main(argv: list[str] | None = None) -> int:
    from advisor.config import TRAIN_REQUESTS_FILE, Config
    from advisor.index import AdvisorIndex
    from advisor.labelled import training_request_rows

    ap = cv_parser(__doc__, ROOT / "index")
    ap.add_argument("--c", type=float, nargs="+", default=[0.1, 0.3, 1.0, 3.0])
    args = ap.parse_args(argv)
    setup_logging()
    idx = AdvisorIndex.load(Config.from_env(index_dir=args.index_dir, disable_progress=True))
    rows = training_request_rows(TRAIN_REQUESTS_FILE)
    models = {**idx.models_2022, **idx.models}  # the 2026 record wins, as in the build
    table = cross_validate(rows, models, args.folds, args.c)
    print_tables(table)
    write_result("language_order_cv", {"folds": args.folds, "rows": table})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
