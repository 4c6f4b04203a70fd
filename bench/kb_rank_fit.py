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
are within each of :data:`SECONDS` (:data:`advisor.kb_rank.SECOND_WITHIN`). Then the weights fitted on
every question, raw (divided by each feature's scale; no intercept), to copy into
:data:`advisor.kb_rank.RANK_WEIGHTS`.

Second, the confidence that can decide "likely fix" (:func:`advisor.kb_rank.confidence`; no
level is set as shipped, see :data:`advisor.kb_rank.STRONG_CONFIDENCE`):
with the shipped second-slot margin, the first entry each question is shown by meaning is
described by :data:`~advisor.kb_rank.CONFIDENCE_FEATURES` (its rank features, its learned
score and lead by the held-out weights) and a logistic regression learns whether it is the
labelled entry, from the other folds. Reported per rule: how many such entries are called
the likely fix, how often rightly (precision), the share of right ones called so, and of
questions with no entry; the score rule it replaces first. Last, its weights and
intercept fitted on every question, for :data:`advisor.kb_rank.CONFIDENCE_WEIGHTS` and
``CONFIDENCE_BIAS``. ``test`` is never read.

Run: ``python -m bench.kb_rank_fit`` (needs ``index/``; ~4 minutes on 2 cores).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # `python bench/kb_rank_fit.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import md_table, run_cv, write_result
from bench.kb_vote_cv import fold_of, labelled_setup, part_columns, shown_text

ROOT = Path(__file__).resolve().parents[1]
C = 1.0  # inverse L2 strength; 0.1 and 1.0 read alike in CV
SECONDS = (0.1, 0.25, 0.5, 1.0)  # settings of advisor.kb_rank.SECOND_WITHIN tried
LEVELS = (0.25, 0.3, 0.35, 0.4, 0.45, 0.5)  # settings of advisor.kb_rank.STRONG_CONFIDENCE tried


def fit_weights(X: np.ndarray, y: np.ndarray, c: float = C) -> np.ndarray:
    """Raw linear weights (standardised logistic regression divided by the scales; the
    order needs no intercept)."""
    return fit_confidence(X, y, c)[0]


def fit_confidence(Z: np.ndarray, y: np.ndarray, c: float = C) -> tuple[np.ndarray, float]:
    """Raw weights and intercept of a standardised logistic regression of ``y`` on ``Z``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(Z)
    clf = LogisticRegression(C=c, max_iter=3000).fit(scaler.transform(Z), y)
    w = clf.coef_[0] / scaler.scale_
    return w, float(clf.intercept_[0] - w @ scaler.mean_)


def framing_rows(framed: dict[str, np.ndarray], right: np.ndarray, labelled: np.ndarray,
                 part: np.ndarray) -> list[dict]:
    """Per rule: entries called the likely fix, precision, right ones called so, no-entry
    questions called so; training posts and ``tune`` apart."""
    out = []
    for rule, called in framed.items():
        row: dict = {"rule": rule}
        for name in ("train", "tune"):
            mine = part == name
            c, r, lab = called[mine], right[mine], labelled[mine]
            row[f"{name} called"] = int(c.sum())
            row[f"{name} precision"] = round(float(r[c].mean()), 3) if c.any() else None
            row[f"{name} right ones called"] = round(float(c[r].mean()), 3) if r.any() else None
            row[f"{name} no-entry called"] = round(float(c[~lab].mean()), 3) if (~lab).any() else None
        out.append(row)
    return out


def fold_readings(folds: int, index_dir: Path, eval_dir: Path, embedder=None,
                  limit: int | None = None) -> tuple:
    """``(setup, matchers, feats)``: :func:`bench.kb_vote_cv.labelled_setup`'s reading,
    one matcher per fold (that fold left out of its solved posts) and, per question, its
    fold's candidate rows, their rank features and whether each is the labelled entry."""
    import advisor.known_issues as ki
    from advisor.kb_rank import rank_features

    setup = labelled_setup(folds, index_dir, eval_dir, embedder, limit)
    emb, issues, cache, questions, solved, qvecs, fold = setup
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
    return setup, matchers, feats


def main(folds: int = 5, index_dir: Path = ROOT / "index", eval_dir: Path = ROOT / "eval",
         out_dir: Path | None = None, embedder=None, limit: int | None = None) -> dict:
    import advisor.known_issues as ki
    from advisor.eval import key_point_coverage
    from advisor.kb_rank import (
        CONFIDENCE_FEATURES,
        RANK_FEATURES,
        SECOND_WITHIN,
        learned_leads,
    )

    (_, _, _, questions, _, qvecs, fold), matchers, feats = fold_readings(
        folds, index_dir, eval_dir, embedder, limit)

    def stack(keep):
        return (np.vstack([feats[i][1] for i in keep]),
                np.concatenate([feats[i][2] for i in keep]))

    held = {f: fit_weights(*stack(np.flatnonzero(fold != f))) for f in range(folds)}
    settings = [("slots as meaning chose them", lambda f: None, 0.0),
                ("by score alone", lambda f: np.zeros(len(RANK_FEATURES)), 0.0),
                (f"learned (held out, C={C})", lambda f: held[f], 0.0)]
    settings += [(f"learned, a second slot within {w}", lambda f: held[f], w) for w in SECONDS]
    table, firsts = [], []  # firsts: the confidence's inputs (shipped margin, held out)
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
            first = next((x for x in ms if x.how == "semantic"), None)
            if w is not None and within == SECOND_WITHIN and name.startswith("learned,") \
                    and first is not None and m._pos[first.issue.id] in rows:
                k = int(np.flatnonzero(rows == m._pos[first.issue.id])[0])
                learned = X @ w
                firsts.append((i, np.concatenate([X[k], [learned[k], learned_leads(learned)[k]]]),
                               first.issue.id == q["entry"], first.steers,
                               first.score >= ki.STRONG_SEMANTIC_SCORE))
        table.append({"order": name, **part_columns(got, questions),
                      "two entries shown": round(second / max(1, len(questions)), 3)})
    weights = fit_weights(*stack(range(len(questions))))
    # the confidence: held out by fold, then fitted on every question
    who = np.array([f[0] for f in firsts], dtype=np.int64)
    Z = np.array([f[1] for f in firsts]).reshape(len(firsts), len(CONFIDENCE_FEATURES))
    right, steers, old = (np.array([f[j] for f in firsts], bool) for j in (2, 3, 4))
    p = np.zeros(len(firsts))
    for f in range(folds):
        mine = fold[who] == f
        if mine.any() and (~mine).any() and len(set(right[~mine])) == 2:
            w, b = fit_confidence(Z[~mine], right[~mine])
            p[mine] = 1.0 / (1.0 + np.exp(-(Z[mine] @ w + b)))
    framed = {f"score >= {ki.STRONG_SEMANTIC_SCORE} (before)": steers & old}
    framed |= {f"confidence >= {t} (held out)": steers & (p >= t) for t in LEVELS}
    calls = framing_rows(framed, right, np.array([bool(questions[i]["entry"]) for i in who]),
                         np.array([questions[i]["source"] for i in who]))
    conf_w, conf_b = (fit_confidence(Z, right) if len(set(right)) == 2
                      else (np.zeros(len(CONFIDENCE_FEATURES)), 0.0))
    result = {"questions": len(questions), "labelled": sum(bool(q["entry"]) for q in questions),
              "tune": sum(q["source"] == "tune" for q in questions), "folds": folds,
              "table": table, "framing": calls,
              "weights": dict(zip(RANK_FEATURES, weights.round(4).tolist(), strict=True)),
              "confidence": {**dict(zip(CONFIDENCE_FEATURES, conf_w.round(4).tolist(),
                                        strict=True)), "bias": round(conf_b, 4)}}
    result["path"] = str(write_result("kb_rank_fit", result, out_dir))
    print(md_table(table))
    print("\nweights fitted on every question (advisor.kb_rank.RANK_WEIGHTS):")
    print("\n".join(f"    {w:.4f},  # {n}" for n, w in zip(RANK_FEATURES, weights, strict=True)))
    print("\nthe first entry shown by meaning, called the likely fix:")
    print(md_table(calls))
    print("\nconfidence fitted on every question (advisor.kb_rank.CONFIDENCE_WEIGHTS):")
    print("\n".join(f"    {w:.4f},  # {n}"
                    for n, w in zip(CONFIDENCE_FEATURES, conf_w, strict=True)))
    print(f"CONFIDENCE_BIAS = {conf_b:.4f}")
    return result


if __name__ == "__main__":
    run_cv(__doc__, main, ROOT / "index")
