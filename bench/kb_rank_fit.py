"""Fit the learned order of known-issue matches (:mod:`advisor.kb_rank`), cross-validated.

Every non-``test`` question labelled with its entry (or ``null``: the training posts
that carry the key and the ``tune`` half of ``eval/real_questions.jsonl``, as in
:mod:`bench.kb_vote_cv`) is read by a matcher whose solved posts exclude the question's
fold (folds by a hash of ``source_url``). Its :data:`~advisor.kb_rank.CANDIDATES` best
entries are described by :data:`~advisor.kb_rank.RANK_FEATURES`, and a logistic
regression (standardised features, ``C``) learns which one is the labelled entry, from
the other folds' questions only. Each question is then matched exactly as the app does,
with the weights fitted without its fold.

Reported for the training posts and ``tune`` apart (:func:`bench.kb_vote_cv.part_columns`):
the labelled entry first / top 3 / shown, questions with no entry shown one (a clean
match: the learned order only fills the slots meaning opened, so this does not rise), the
key points the shown entries hold and the share of questions shown two entries. Rows: the
slots filled as meaning chose them (no learned order), by score alone (all weights 0), by
the held-out fit, and by it with a second slot opened when the first two learned scores
are within each of :data:`SECONDS` (:data:`advisor.kb_rank.SECOND_WITHIN`). Last, the weights fitted on
every question, raw (divided by each feature's scale; no intercept), to copy into
:data:`advisor.kb_rank.RANK_WEIGHTS`. ``test`` is never read.

Run: ``python -m bench.kb_rank_fit`` (needs ``index/``; ~4 minutes on 2 cores).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # `python bench/kb_rank_fit.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import cv_parser, md_table, setup_logging, write_result
from bench.kb_vote_cv import fold_of, labelled_setup, part_columns, shown_text

ROOT = Path(__file__).resolve().parents[1]
C = 1.0  # inverse L2 strength; 0.1 and 1.0 read alike in CV
SECONDS = (0.25, 0.5, 1.0)  # settings of advisor.kb_rank.SECOND_WITHIN tried


def fit_weights(X: np.ndarray, y: np.ndarray, c: float = C) -> np.ndarray:
    """Raw linear weights (standardised logistic regression divided by the scales)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(X)
    clf = LogisticRegression(C=c, max_iter=3000).fit(scaler.transform(X), y)
    return clf.coef_[0] / scaler.scale_


def main(folds: int = 5, index_dir: Path = ROOT / "index", eval_dir: Path = ROOT / "eval",
         out_dir: Path | None = None, embedder=None, limit: int | None = None) -> dict:
    import advisor.known_issues as ki
    from advisor.eval import key_point_coverage
    from advisor.kb_rank import RANK_FEATURES, rank_features

    emb, issues, cache, questions, solved, qvecs, fold = labelled_setup(
        folds, index_dir, eval_dir, embedder, limit)
    matchers, feats = {}, [None] * len(questions)
    for f in range(folds):
        matchers[f] = ki.KnownIssueMatcher(issues, emb, cache=cache, solved=[
            p for p in solved if fold_of(p.url, folds) != f])
        cache = matchers[f]._cache  # texts embedded once
        m = matchers[f]
        for i in np.flatnonzero(fold == f):
            text = questions[i]["text"][:4000]
            rows, X = rank_features(m, m.read(text, qvecs[i]), qvecs[i])
            feats[i] = (rows, X, np.array([m.issues[j].id == questions[i]["entry"]
                                           for j in rows], float))

    def stack(keep):
        return (np.vstack([feats[i][1] for i in keep]),
                np.concatenate([feats[i][2] for i in keep]))

    held = {f: fit_weights(*stack(np.flatnonzero(fold != f))) for f in range(folds)}
    settings = [("slots as meaning chose them", lambda f: None, 0.0),
                ("by score alone", lambda f: np.zeros(len(RANK_FEATURES)), 0.0),
                (f"learned (held out, C={C})", lambda f: held[f], 0.0)]
    settings += [(f"learned, a second slot within {w}", lambda f: held[f], w) for w in SECONDS]
    table = []
    for name, weights, within in settings:
        got, second = [], 0
        for i, q in enumerate(questions):
            m = matchers[int(fold[i])]
            m.rank_weights, m.second_within = weights(int(fold[i])), within
            ms = m.match(q["text"][:4000], qvecs[i])
            second += len(ms) > 1
            rows, X, y = feats[i]
            w = m.rank_weights
            order = rows if w is None else rows[np.argsort(-(X @ w), kind="stable")]
            rank = (int(np.flatnonzero([m.issues[j].id == q["entry"] for j in order])[0])
                    if y.any() else len(order))
            kp = (key_point_coverage(q["key_points"], " ".join(shown_text(x) for x in ms))
                  if q["key_points"] else None)
            got.append((rank, q["entry"] in [x.issue.id for x in ms],
                        any(not x.loose for x in ms), kp))
        table.append({"order": name, **part_columns(got, questions),
                      "two entries shown": round(second / max(1, len(questions)), 3)})
    weights = fit_weights(*stack(range(len(questions))))
    result = {"questions": len(questions), "labelled": sum(bool(q["entry"]) for q in questions),
              "tune": sum(q["source"] == "tune" for q in questions), "folds": folds,
              "table": table,
              "weights": dict(zip(RANK_FEATURES, weights.round(4).tolist(), strict=True))}
    result["path"] = str(write_result("kb_rank_fit", result, out_dir))
    print(md_table(table))
    print("\nweights fitted on every question (advisor.kb_rank.RANK_WEIGHTS):")
    print("\n".join(f"    {w:.4f},  # {n}" for n, w in zip(RANK_FEATURES, weights, strict=True)))
    return result


if __name__ == "__main__":
    ap = cv_parser(__doc__, ROOT / "index")
    args = ap.parse_args()
    setup_logging()
    main(folds=args.folds, index_dir=args.index_dir)
