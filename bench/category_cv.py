"""Cross-validated challenge categories on the ``tune`` questions (issue 13's method
comparison): the classifier alone, refitted per fold, with and without extra training
texts.

The classifier (:mod:`advisor.classifier`, without the fine-tuned head that a full build
adds: ``bench.category_head_cv`` measures that) learns from the codebook, the root-cause
codes, the guidance, the training posts and the ``tune`` half of
``eval/real_questions.jsonl``, so its ``tune`` figures are only honest when each question
is held out of the fit that scores it. This script splits the ``tune`` questions into
``--folds`` folds, fits on everything else and reports top-1 / top-3 of the classifier
alone (no known-issue steering, unlike ``category_quality.py``) for:

- ``base``: the training texts of the build;
- ``+ known issues``: plus each knowledge-base entry's ``example`` and ``description``
  (``prompts/known_issues``), labelled with the entry's category: several hundred
  user-worded texts per pass, written by people who did not see the questions.

For the build's texts (the last variant) it also prints how often the answer's
"sure" wording (not unsure, top score at or above ``advisor.compose.SURE_CONFIDENCE``)
would be right at other thresholds, so the threshold is chosen on held-out folds; and
the answer's category after the known-issue steering of
:func:`advisor.engine.steer_by_known` (the entries matched to each held-out question mix
their categories in), for a few weights, the engine's own first.

With ``--pool all`` the training posts are held out in turn as well (about 1,050
questions instead of 134): a steadier reading of the calibration, on posts labelled the
same way. ``test`` is never read. Run: ``python -m bench.category_cv [--folds 5]
[--pool all]`` (needs
``index/`` for the codebook and threads; ~3 minutes on 2 cores).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # `python bench/category_cv.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import cv_parser, print_tables, setup_logging, write_result

ROOT = Path(__file__).resolve().parents[1]


CALIBRATION_THRESHOLDS = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8)
# (signature, meaning) weights of the known-issue steering compared on the held-out
# predictions; the engine's own first.
STEERING_WEIGHTS = ((None, None), (0.0, 0.0), (0.1, 0.0), (0.05, 0.05), (0.1, 0.1), (0.2, 0.1))


def main(folds: int = 5, index_dir: Path = ROOT / "index", embedder=None,
         out_dir: Path | None = None, pool: str = "tune") -> dict:
    from advisor.classifier import TaxonomyClassifier
    from advisor.compose import SURE_CONFIDENCE
    from advisor.config import LABELLED_POSTS_FILE, Config
    from advisor.embedding import embedder_for
    from advisor.engine import KB_SEMANTIC_WEIGHT as KB_SEM
    from advisor.engine import KB_SIGNATURE_WEIGHT as KB_SIG
    from advisor.engine import _load_known_issues, steer_by_known
    from advisor.eval import split_of
    from advisor.guidance import load_guidance
    from advisor.index import AdvisorIndex
    from advisor.known_issues import load_known_issues
    from advisor.labelled import known_issue_texts, read_labelled_posts, training_texts
    from advisor.memo import MemoEmbedder

    cfg = Config.from_env(index_dir=Path(index_dir), disable_progress=True)
    # every fold re-embeds the same training texts: embed each distinct text once
    emb = MemoEmbedder(embedder or embedder_for(cfg), size=1_000_000, max_batch=1_000_000)
    index = AdvisorIndex.load(cfg, embedder=emb)
    eval_dir = Path(LABELLED_POSTS_FILE).parent
    questions = read_labelled_posts(eval_dir / "real_questions.jsonl")
    tune = [q for q in questions if q.url and split_of(q.url) == "tune"]
    others = read_labelled_posts(eval_dir / "train_posts.jsonl")
    if pool == "all":  # the training posts are held out in turn too: 8x the questions
        tune, others = tune + others, []
    rng = np.random.default_rng(0)
    fold_of = rng.permutation(len(tune)) % folds
    guidance = load_guidance()
    variants = {"base": [], "+ known issues": known_issue_texts(load_known_issues())}
    matcher = _load_known_issues(index, emb)
    steered: list[tuple[str, list, list, object]] = []  # (gold, prediction, matches, clf)
    table = []
    for name, extra in variants.items():
        top1 = top3 = sure = sure_ok = 0
        conf: list[float] = []
        scored: list[tuple[float, bool, bool]] = []  # (top score, right, unsure)
        for f in range(folds):
            held = [q for q, k in zip(tune, fold_of, strict=True) if k == f]
            kept = [q for q, k in zip(tune, fold_of, strict=True) if k != f]
            texts = training_texts(index.taxonomy, list(index.threads.values()), guidance,
                                   others + kept) + list(extra)
            clf = TaxonomyClassifier().fit_texts(texts, emb)
            for q, pred in zip(held, clf.predict_many([q.text for q in held]), strict=True):
                if name == "+ known issues":  # the build's texts: the product's steering
                    steered.append((q.category, pred, [m for m in matcher.match(q.text)
                                                       if m.steers], clf))
                cats = [p.category for p in pred]
                top1 += cats[:1] == [q.category]
                top3 += q.category in cats[:3]
                conf.append(pred[0].score)
                scored.append((pred[0].score, cats[:1] == [q.category], clf.is_unsure(pred)))
                if not clf.is_unsure(pred):
                    sure += 1
                    sure_ok += cats[:1] == [q.category]
        table.append({"training texts": name, "questions": len(tune),
                      "top-1": round(top1 / len(tune), 3), "top-3": round(top3 / len(tune), 3),
                      "sure": sure, "sure right": round(sure_ok / sure, 3) if sure else None,
                      "median top score": round(float(np.median(conf)), 3)})
    calibration = []
    for th in CALIBRATION_THRESHOLDS:
        picked = [right for score, right, unsure in scored if score >= th and not unsure]
        calibration.append({"sure at": th, "questions": len(picked),
                            "right": round(sum(picked) / len(picked), 3) if picked else None})
    steering = []
    for w_sig, w_sem in STEERING_WEIGHTS:
        right, sure = 0, []
        for gold, pred, known, clf in steered:
            merged = steer_by_known(pred, known, w_sig, w_sem)
            right += merged[0].category == gold
            if merged[0].score >= SURE_CONFIDENCE and not clf.is_unsure(merged):
                sure.append(merged[0].category == gold)
        steering.append({"signature weight": w_sig if w_sig is not None else f"{KB_SIG} (now)",
                         "meaning weight": w_sem if w_sem is not None else f"{KB_SEM} (now)",
                         "matched": sum(bool(k) for _, _, k, _ in steered),
                         "top-1": round(right / max(1, len(steered)), 3), "sure": len(sure),
                         "sure right": round(sum(sure) / len(sure), 3) if sure else None})
    result = {"folds": folds, "split": "tune" if pool == "tune" else "tune + training posts",
              "table": table, "calibration": calibration, "steering": steering}
    result["path"] = str(write_result("category_cv" + ("_all" if pool == "all" else ""), result,
                                      out_dir))
    print_tables(table, calibration, steering)
    return result


if __name__ == "__main__":
    ap = cv_parser(__doc__, ROOT / "index")
    ap.add_argument("--pool", choices=("tune", "all"), default="tune",
                    help="hold out the tune questions (default) or also the training posts")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    setup_logging(a.verbose)
    main(a.folds, a.index_dir, pool=a.pool)
