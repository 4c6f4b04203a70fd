"""Does a question ask (or imply) a model choice? Learned from labelled real questions.

"Which model for Spanish NER?" asks it outright; "I use bert-base-uncased for German
reviews and the results are bad" and "can this English model also classify Italian?"
imply it. Word rules miss the second kind, so this is a small logistic regression on
the question's MiniLM vector plus hashed word n-grams, mixed with a vote of the nearest
labelled questions (:data:`KNN_WEIGHT`), fitted at build time on:

- positives: model-selection requests (the ``tune`` half of ``eval/real_requests.jsonl``,
  ``eval/train_requests.jsonl`` (real requests collected for training only, both halves)
  and the selection questions of ``eval/dev_questions.jsonl``);
- negatives: labelled real posts and questions that are not model requests
  (``eval/train_posts.jsonl`` and the ``tune`` half of ``eval/real_questions.jsonl``,
  without the "Specific Solution Need" ones, which are often requests themselves).

The ``test`` halves are never read. Saved as ``intent.npz`` + ``intent.json`` in the
index. This module does not decide the task or rank models.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from advisor.labelled import hashed_ngrams, labelled_posts, nearest_weights, training_requests

log = logging.getLogger(__name__)

FORMAT_VERSION = 3  # 2: the word n-grams of advisor.labelled (dotted names stay one token);
# 3: the training vectors and labels for the nearest-question vote
NPZ_FILE = "intent.npz"
JSON_FILE = "intent.json"
DEFAULT_C = 2.0
# The nearest labelled questions vote too: P = (1 - KNN_WEIGHT) x the regression +
# KNN_WEIGHT x the share of the KNN_K nearest (weighted by exp(cosine / KNN_TEMPERATURE),
# each class reweighted by the other's prior) that are requests. A request worded like
# known requests but unlike the regression's average one is caught. 5-fold CV over the
# 3,570 training rows at threshold 0.5 (`python -m bench.intent_cv`): recall / false
# tables 0.946 / 4.4% -> 0.958 / 4.0%; holding out each collection batch whole (its
# neighbours come from other collectors): 0.933 / 4.7% -> 0.946 / 4.2%. Weight 0.5 gained
# a little more recall and more false tables (0.948 / 5.1% by batch); k 5 / 20 read alike.
KNN_K = 10
KNN_TEMPERATURE = 0.05
KNN_WEIGHT = 0.3
# P(model choice) at or above which the answer shows models. `python -m bench.intent_cv`
# (5-fold CV over the training rows; the 83 tune requests and 1,056 other questions held
# out in turn, the 332 training-only requests in every fold): 0.4 -> recall 0.95 / false
# tables 6.6%; 0.5 -> 0.94 / 4.2%; 0.6 -> 0.92 / 2.5%. With 126 training-only requests
# 0.4 gave 0.95 / 5.3%; the 90 added in the eighth pass moved the prior towards requests,
# and a table nobody asked for is what reviewers count as misleading, so 0.5.
THRESHOLD = 0.5
# Borderline questions (P between BORDERLINE and THRESHOLD) show models when the task model
# reads a task in them with at least this confidence (advisor.engine.detect_intent):
# "can this English model also classify Italian reviews?" names a task plainly while its
# phrasing reads like a problem. `python -m bench.intent_cv --task-gate` (every request
# held out in turn, 415 requests, 1,496 other questions): 0.5 alone -> recall 0.940 /
# false tables 3.7%; 0.3 with task >= 0.8 -> 0.971 / 4.3%; 0.3 alone -> 0.978 / 8.5%.
BORDERLINE = 0.3
BORDERLINE_TASK_CONFIDENCE = 0.8
NOT_REQUESTS = frozenset({"Specific Solution Need"})


def _features(vecs: np.ndarray, texts: Sequence[str]):
    from scipy.sparse import csr_matrix, hstack

    return hstack([csr_matrix(np.asarray(vecs, np.float32)), hashed_ngrams(texts)]).tocsr()


def training_rows(eval_dir: Path) -> tuple[list[str], list[int]]:
    """(texts, labels 1/0) from the labelled files in ``eval_dir`` (see the docstring)."""
    from advisor.eval import split_of

    texts: list[str] = []
    labels: list[int] = []

    def rows(name: str):
        p = eval_dir / name
        if not p.exists():
            log.warning("intent training: %s missing", p)
            return []
        return [json.loads(x) for x in p.read_text(encoding="utf-8").splitlines() if x.strip()]

    for r in rows("real_requests.jsonl"):
        if r.get("source_url") and split_of(r["source_url"]) == "tune":
            texts.append(r["question"])
            labels.append(1)
    for question, _ in training_requests(eval_dir / "train_requests.jsonl"):  # both halves
        texts.append(question)
        labels.append(1)
    for r in rows("dev_questions.jsonl"):
        texts.append(r["question"])
        labels.append(1 if r.get("good_models") else 0)
    for post in labelled_posts(eval_dir):  # train posts + the tune questions
        if post.category not in NOT_REQUESTS:
            texts.append(post.text)
            labels.append(0)
    return texts, labels


class IntentModel:
    """P(the question asks for a model choice). Build with :meth:`fit` or :meth:`load`."""

    def __init__(self, coef: np.ndarray, intercept: float, threshold: float = THRESHOLD,
                 vecs: np.ndarray | None = None, labels: np.ndarray | None = None):
        self.coef = coef  # (dim + LEX_FEATURES,) float32
        self.intercept = float(intercept)
        self.threshold = threshold
        # (n, dim) float32 in memory (float16 on disk), the training questions; None: no vote
        self.vecs = None if vecs is None else np.asarray(vecs, np.float32)
        self.labels = None if labels is None else np.asarray(labels, np.float32)

    @classmethod
    def fit(cls, texts: Sequence[str], vecs: np.ndarray, labels: Sequence[int]) -> IntentModel:
        from sklearn.linear_model import LogisticRegression

        if len(set(labels)) < 2:
            raise ValueError("intent model needs both model requests and other questions")
        clf = LogisticRegression(C=DEFAULT_C, max_iter=2000, class_weight="balanced")
        clf.fit(_features(vecs, texts), np.asarray(labels))
        log.info("intent model fitted on %d questions (%d requests)", len(labels), sum(labels))
        return cls(clf.coef_[0].astype(np.float32), float(clf.intercept_[0]),
                   vecs=np.asarray(vecs, np.float16).astype(np.float32),
                   labels=np.asarray(labels, np.uint8))

    def regression(self, text: str, qvec: np.ndarray) -> float:
        """The logistic regression's P(request)."""
        x = _features(np.asarray(qvec, np.float32)[None, :], [text])
        z = float((x @ self.coef)[0]) + self.intercept
        return 1.0 / (1.0 + np.exp(-z))

    def vote(self, qvec: np.ndarray) -> float | None:
        """The share of the :data:`KNN_K` nearest training questions that are requests,
        each weighted by ``exp(cosine / KNN_TEMPERATURE)`` and its class reweighted by the
        other class's prior (so the vote reads 0.5 where both kinds are alike); ``None``
        without training vectors."""
        if self.vecs is None or self.labels is None or not len(self.vecs):
            return None
        top, w = nearest_weights(self.vecs @ np.asarray(qvec, np.float32), KNN_K, KNN_TEMPERATURE)
        w, lab = w[0], self.labels[top[0]]
        prior = float(self.labels.mean())
        yes = float((w * lab).sum()) * (1.0 - prior)
        no = float((w * (1.0 - lab)).sum()) * prior
        return yes / (yes + no) if yes + no > 0 else 0.5

    def proba(self, text: str, qvec: np.ndarray) -> float:
        p = self.regression(text, qvec)
        knn = self.vote(qvec)
        return p if knn is None else (1.0 - KNN_WEIGHT) * p + KNN_WEIGHT * knn

    def save(self, directory: Path) -> None:
        arrays = {"coef": self.coef}
        if self.vecs is not None and self.labels is not None:
            arrays |= {"vecs": np.asarray(self.vecs, np.float16),
                       "labels": np.asarray(self.labels, np.uint8)}
        np.savez_compressed(Path(directory) / NPZ_FILE, **arrays)
        (Path(directory) / JSON_FILE).write_text(json.dumps(
            {"format_version": FORMAT_VERSION, "intercept": self.intercept,
             "threshold": self.threshold}), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> IntentModel:
        """Raises FileNotFoundError (an index built before this model) or ValueError
        (another format: rebuild)."""
        meta = json.loads((Path(directory) / JSON_FILE).read_text(encoding="utf-8"))
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{directory}/{JSON_FILE} has format {meta.get('format_version')}; "
                             "rebuild the index with `python -m builder build`.")
        with np.load(Path(directory) / NPZ_FILE) as z:
            coef = z["coef"]
            vecs = z["vecs"] if "vecs" in z.files else None
            labels = z["labels"] if "labels" in z.files else None
        return cls(coef, meta["intercept"], THRESHOLD, vecs, labels)  # threshold: code
