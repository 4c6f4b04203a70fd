"""Task inference learned from the corpus: free text -> Hub pipeline tag, with a confidence.

Tens of thousands of model cards carry a ``pipeline_tag``; their text (id, tags,
description, usage sections) says in many words what each task is about. At build time
:meth:`TaskModel.fit` learns from them:

- a **text model**: TF-IDF (word unigrams + bigrams, sublinear) -> multinomial logistic
  regression. The task tag itself is blanked out of each card's text, so the model learns
  from how cards *describe* a task ("transcribe", "speech", "entities", "summaries"), not
  from the tag word;
- a **dense model**: logistic regression on the cards' MiniLM chunk vectors (the ones in
  ``vectors.faiss``), so paraphrases the card vocabulary lacks still land near their task;
- **task descriptions** (``prompts/tasks.yaml``, the Hub's task pages written in our own
  words) join both training sets with a high weight, so rare tasks have an anchor;
- **real requests** labelled with the task they need (``eval/train_requests.jsonl``,
  training only) join both with :data:`REQUEST_WEIGHT`, so the model also learns how
  people *ask* for a task, not only how cards describe it.

At query time :meth:`TaskModel.predict` averages the two probability vectors (weights
:data:`W_TEXT` / :data:`W_DENSE`, chosen on the ``tune`` half of the real requests) and
returns the ranked tasks. A caller may blend in further evidence (the tags of the
nearest model chunks, a model the user named) with :func:`blend`.

Saved as ``taskmodel.json`` (labels, vocabulary, settings, format version) and
``taskmodel.npz`` (idf, coefficients) inside ``index/``; no pickles. This module does not
parse languages, sizes or licences (:mod:`advisor.tasks`) and does not rank models.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
JSON_FILE = "taskmodel.json"
NPZ_FILE = "taskmodel.npz"
INFERRED_FILE = "inferred_tasks.json"  # untagged model id -> [task, probability]
INFERRED_FORMAT_VERSION = 1

MIN_MODELS_PER_TASK = 25  # a pipeline tag with fewer card chunks is too thin to learn alone...
# ...unless the task is described in prompts/tasks.yaml or asked for by labelled requests:
# then the description and the requests anchor it and this many chunks suffice (people ask
# for depth estimation, reranking or voice activity detection far more often than the Hub
# of 2022 held such models: 12 of 384 labelled requests were depth estimation).
MIN_MODELS_ANCHORED = 3
MAX_FEATURES = 60_000  # TF-IDF vocabulary cap: ~7 MB of float32 coefficients for 30 tasks
MIN_DF = 3  # a word in fewer cards is a name, not task vocabulary
MAX_TEXT_CHARS = 2_000  # per card: id, tags, description and the usage section fit
DESCRIPTION_WEIGHT = 40.0  # one task description counts like this many cards
# One labelled request counts like this many cards of its task (tune requests: task
# accuracy 0.827 -> 0.846 at 20 and at 50, hit@5 0.635 -> 0.654).
REQUEST_WEIGHT = 20
# Class weights: (n_max / n_task) ** CLASS_WEIGHT_POWER. 0 keeps the corpus prior (text
# classification and generation dominate); 1 makes every task equally likely. Requests
# ask for rare tasks far more often than the Hub holds them, so halfway.
CLASS_WEIGHT_POWER = 0.5
W_TEXT = 0.65  # share of the text model in predict(); the dense model gets the rest (CV: understanding.W_CUE)
C_TEXT = 4.0  # inverse L2 strength (sklearn's C) for the text model
C_DENSE = 4.0

_TOKEN_PATTERN = r"(?u)\b[a-z][a-z0-9]+\b"


@dataclass(frozen=True)
class TaskGuess:
    """One candidate task with its probability (0..1) and the evidence that carried it."""

    task: str
    prob: float
    evidence: str = ""


def card_training_text(text: str, task: str | None) -> str:
    """A card's text with its own task tag blanked out (see the module docstring)."""
    low = text[:MAX_TEXT_CHARS].lower()
    if task:
        low = low.replace(task, " ")
        low = re.sub(r"task:\s*[\w-]*", " ", low)
    # id separators become spaces so "wav2vec2-large-xlsr-german" yields its stems
    return re.sub(r"[/_\-.]", " ", low)


def _weights(labels: Sequence[str]) -> dict[str, float]:
    n = Counter(labels)
    top = max(n.values())
    return {t: (top / c) ** CLASS_WEIGHT_POWER for t, c in n.items()}


class TaskModel:
    """See the module docstring. Build with :meth:`fit` or :meth:`load`."""

    def __init__(self, labels: list[str], vocabulary: dict[str, int], idf: np.ndarray,
                 coef_text: np.ndarray, icpt_text: np.ndarray, coef_dense: np.ndarray,
                 icpt_dense: np.ndarray, w_text: float = W_TEXT):
        self.labels = labels
        self.vocabulary = vocabulary
        self.idf = idf  # (V,) float32
        self.coef_text = coef_text  # (L, V) float32
        self.icpt_text = icpt_text  # (L,)
        self.coef_dense = coef_dense  # (L, dim)
        self.icpt_dense = icpt_dense  # (L,)
        self.w_text = w_text
        self._vectorizer = None

    # --- fitting ---------------------------------------------------------------------
    @classmethod
    def fit(cls, texts: Sequence[str], vectors: np.ndarray, labels: Sequence[str],
            descriptions: dict[str, str] | None = None,
            description_vectors: dict[str, np.ndarray] | None = None,
            requests: Sequence[tuple[str, str]] = (),
            request_vectors: np.ndarray | None = None) -> TaskModel:
        """Fit from card texts (already passed through :func:`card_training_text`), their
        vectors ``(n, dim)`` and pipeline tags. ``descriptions`` maps a tag to its task
        description; ``description_vectors`` maps a tag to the description's embedding;
        ``requests`` are ``(text, tag)`` pairs of real requests, ``request_vectors`` their
        embeddings, each counted :data:`REQUEST_WEIGHT` times. Tags with fewer than
        :data:`MIN_MODELS_PER_TASK` card chunks are dropped (and their requests), or fewer
        than :data:`MIN_MODELS_ANCHORED` when a description or a request names the tag."""
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        counts = Counter(labels)
        anchored = set(descriptions or {}) | {t for _, t in requests}
        keep = sorted(t for t, c in counts.items() if c >= MIN_MODELS_PER_TASK
                      or (t in anchored and c >= MIN_MODELS_ANCHORED))
        if len(keep) < 2:
            raise ValueError(f"need at least 2 tasks with >= {MIN_MODELS_PER_TASK} cards; "
                             f"got {dict(counts)}")
        idx = [i for i, t in enumerate(labels) if t in keep]
        y = [labels[i] for i in idx]
        x_text = [texts[i] for i in idx]
        x_vec = np.asarray(vectors, dtype=np.float32)[idx]
        cw = _weights(y)
        sw = np.array([cw[t] for t in y], dtype=np.float32)
        descriptions = {t: d for t, d in (descriptions or {}).items() if t in keep}
        if descriptions:
            order = list(descriptions)
            x_text += [card_training_text(descriptions[t], None) for t in order]
            y += order
            w = DESCRIPTION_WEIGHT * max(cw.values())
            sw = np.concatenate([sw, np.full(len(order), w, dtype=np.float32)])
            if description_vectors is not None:
                dv = np.stack([np.asarray(description_vectors[t], np.float32) for t in order])
            else:
                dv = np.zeros((len(order), x_vec.shape[1]), np.float32)
            x_vec = np.vstack([x_vec, dv])
        pairs = [(j, t) for j, (_, t) in enumerate(requests) if t in keep]
        request_texts: list[str] = []
        if pairs and request_vectors is not None:
            # one row each, weighted REQUEST_WEIGHT times (the same loss as that many copies,
            # at a twentieth of the rows); the vocabulary still counts the copies below
            request_texts = [card_training_text(requests[j][0], None) for j, _ in pairs]
            y += [t for _, t in pairs]
            sw = np.concatenate([sw, REQUEST_WEIGHT * np.array([cw[t] for _, t in pairs],
                                                               np.float32)])
            rv = np.asarray(request_vectors, np.float32)[[j for j, _ in pairs]]
            x_vec = np.vstack([x_vec, rv])
        vec = TfidfVectorizer(lowercase=True, token_pattern=_TOKEN_PATTERN, ngram_range=(1, 2),
                              min_df=MIN_DF, max_features=MAX_FEATURES, sublinear_tf=True,
                              stop_words="english", dtype=np.float32)
        # document frequencies as if each request were there REQUEST_WEIGHT times, so that
        # a request's words reach MIN_DF and weigh in the IDF like the cards' words
        vec.fit(x_text + request_texts * REQUEST_WEIGHT)
        xt = vec.transform(x_text + request_texts)
        log.info("task model: %s cards, %d tasks, %s terms", f"{len(idx):,}", len(keep),
                 f"{xt.shape[1]:,}")
        text_clf = LogisticRegression(C=C_TEXT, max_iter=300)
        text_clf.fit(xt, y, sample_weight=sw)
        dense_clf = LogisticRegression(C=C_DENSE, max_iter=300)
        dense_clf.fit(x_vec, y, sample_weight=sw)
        labels_out = [str(c) for c in text_clf.classes_]
        assert labels_out == [str(c) for c in dense_clf.classes_]
        vocab = {str(k): int(v) for k, v in vec.vocabulary_.items()}
        return cls(labels_out, vocab, vec.idf_.astype(np.float32),
                   text_clf.coef_.astype(np.float32), text_clf.intercept_.astype(np.float32),
                   dense_clf.coef_.astype(np.float32), dense_clf.intercept_.astype(np.float32))

    # --- persistence -------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        directory = Path(directory)
        np.savez_compressed(directory / NPZ_FILE, idf=self.idf, coef_text=self.coef_text,
                            icpt_text=self.icpt_text, coef_dense=self.coef_dense,
                            icpt_dense=self.icpt_dense)
        meta = {"format_version": FORMAT_VERSION, "labels": self.labels,
                "w_text": self.w_text, "token_pattern": _TOKEN_PATTERN,
                "vocabulary": self.vocabulary}
        (directory / JSON_FILE).write_text(json.dumps(meta), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> TaskModel:
        """Raises FileNotFoundError (no task model in this index) or ValueError (other
        format version: rebuild the index)."""
        directory = Path(directory)
        meta = json.loads((directory / JSON_FILE).read_text(encoding="utf-8"))
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{directory / JSON_FILE} has format version "
                             f"{meta.get('format_version')}, expected {FORMAT_VERSION}; "
                             "rebuild the index with `python -m builder build`.")
        with np.load(directory / NPZ_FILE) as z:
            arrays = {k: z[k] for k in z.files}
        return cls(list(meta["labels"]), dict(meta["vocabulary"]), arrays["idf"],
                   arrays["coef_text"], arrays["icpt_text"], arrays["coef_dense"],
                   arrays["icpt_dense"], w_text=float(meta.get("w_text", W_TEXT)))

    # --- prediction --------------------------------------------------------------------
    def _vectorize(self, texts: Sequence[str]):
        if self._vectorizer is None:
            from sklearn.feature_extraction.text import TfidfVectorizer

            v = TfidfVectorizer(lowercase=True, token_pattern=_TOKEN_PATTERN, ngram_range=(1, 2),
                                sublinear_tf=True, stop_words="english", dtype=np.float32,
                                vocabulary=self.vocabulary)
            v.idf_ = self.idf
            self._vectorizer = v
        return self._vectorizer.transform([card_training_text(t, None) for t in texts])

    def proba_text(self, text: str) -> np.ndarray:
        x = self._vectorize([text])
        return _softmax(np.asarray(x @ self.coef_text.T).ravel() + self.icpt_text)

    def proba_dense(self, qvec: np.ndarray) -> np.ndarray:
        return _softmax(self.coef_dense @ np.asarray(qvec, np.float32) + self.icpt_dense)

    def proba(self, text: str, qvec: np.ndarray | None = None) -> np.ndarray:
        """``(L,)`` probabilities over :attr:`labels`."""
        p = self.proba_text(text)
        if qvec is not None:
            p = self.w_text * p + (1 - self.w_text) * self.proba_dense(qvec)
        return p

    def proba_many(self, texts: Sequence[str], vectors: np.ndarray) -> np.ndarray:
        """``(n, L)`` probabilities for many texts with one vector each, in one pass (the
        builder's task inference for untagged models)."""
        p_text = _softmax(np.asarray(self._vectorize(texts) @ self.coef_text.T) + self.icpt_text)
        v = np.asarray(vectors, np.float32)
        p_dense = _softmax(v @ self.coef_dense.T + self.icpt_dense)
        return self.w_text * p_text + (1 - self.w_text) * p_dense

    def predict(self, text: str, qvec: np.ndarray | None = None, k: int = 3) -> list[TaskGuess]:
        p = self.proba(text, qvec)
        order = np.argsort(-p)[:k]
        return [TaskGuess(self.labels[i], float(p[i]), "learned from model cards")
                for i in order]


def save_inferred(directory: Path, inferred: dict[str, tuple[str, float]]) -> None:
    """Write the tasks inferred for models without a pipeline tag (see
    :func:`builder.taskfit.infer_untagged`)."""
    data = {"format_version": INFERRED_FORMAT_VERSION,
            "models": {mid: [t, round(p, 4)] for mid, (t, p) in sorted(inferred.items())}}
    (Path(directory) / INFERRED_FILE).write_text(json.dumps(data), encoding="utf-8")


def read_index_json(directory: Path | None, name: str, version: int) -> dict:
    """``name`` inside an index directory, parsed, when it exists and has ``version``;
    else ``{}`` (with a warning that says to rebuild when it is unreadable or of another
    format). The small JSON side files of an index (inferred and related tasks) use it."""
    if directory is None:
        return {}
    path = Path(directory) / name
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        log.warning("Ignoring %s (%s); rebuild with `python -m builder build`", path, e)
        return {}
    if not isinstance(data, dict) or data.get("format_version") != version:
        got = data.get("format_version") if isinstance(data, dict) else None
        log.warning("Ignoring %s: format version %s, expected %s; rebuild the index",
                    path, got, version)
        return {}
    return data


def load_inferred(directory: Path | None) -> dict[str, tuple[str, float]]:
    """The tasks inferred for untagged models at build time; ``{}`` for an index built
    before they existed or of another format (the recommender then knows only the tagged
    models and the name patterns of :data:`advisor.modelfacts.INFERRED_TASKS`)."""
    data = read_index_json(directory, INFERRED_FILE, INFERRED_FORMAT_VERSION)
    return {mid: (str(v[0]), float(v[1])) for mid, v in data.get("models", {}).items()}


def blend(guesses: Sequence[TaskGuess], votes: dict[str, float], weight: float,
          evidence: str) -> list[TaskGuess]:
    """Mix further evidence into ranked guesses: ``(1 - weight) * p + weight * vote``
    where ``votes`` is a distribution over tasks (it need not cover the same tasks)."""
    total = sum(votes.values())
    if total <= 0 or weight <= 0:
        return list(guesses)
    mixed: dict[str, float] = {g.task: (1 - weight) * g.prob for g in guesses}
    ev = {g.task: g.evidence for g in guesses}
    for t, v in votes.items():
        mixed[t] = mixed.get(t, 0.0) + weight * v / total
        if v / total >= 0.3:
            ev[t] = f"{ev.get(t, '')}; {evidence}".strip("; ")
    out = [TaskGuess(t, p, ev.get(t, "")) for t, p in mixed.items()]
    return sorted(out, key=lambda g: -g.prob)


def reweight(guesses: Sequence[TaskGuess], ratio: dict[str, float],
             evidence: str) -> list[TaskGuess]:
    """Multiply each guess by ``ratio[task]`` (1 for tasks it lacks) and renormalise: a
    likelihood ratio, where :func:`blend` mixes in a second distribution."""
    raw = [(g, g.prob * ratio.get(g.task, 1.0)) for g in guesses]
    total = sum(p for _, p in raw) or 1.0
    out = [TaskGuess(g.task, p / total,
                     f"{g.evidence}; {evidence}".strip("; ") if ratio.get(g.task, 1.0) > 1.5
                     else g.evidence) for g, p in raw]
    return sorted(out, key=lambda g: -g.prob)


def _softmax(z: np.ndarray) -> np.ndarray:
    """Softmax over the last axis (one row or a batch of rows)."""
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)
