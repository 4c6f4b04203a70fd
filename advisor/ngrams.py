"""Word n-gram classifier: TF-IDF word 1-2 grams -> multinomial logistic regression.

One part of the challenge classifier's mixture (:mod:`advisor.classifier`): it catches the
names a sentence embedding blurs (``config.json``, ``Trainer``, ``hf_hub_download``). The
vocabulary is the n-grams seen in at least :data:`MIN_DF` training texts, with sublinear
term counts; it is saved with the coefficients (plain arrays, no pickles), so a loaded
model scores text exactly as the fitted one did.

This module does not embed, mix or calibrate; it knows class indices, not category names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

MIN_DF = 2  # an n-gram in fewer training texts is a name of one post, not a cue
# An n-gram named as a reason must be rarer than this in the training texts (idf = 1 +
# ln((1 + n) / (1 + df)) >= 1 + ln 20: in at most ~5% of them), hold no English stop word
# (scikit-learn's list: "the training", "can be") and weigh at least this share of the
# strongest one, so filler that carries some weight is not named as what decided.
SHOWN_MIN_IDF = 1.0 + float(np.log(20.0))
SHOWN_MIN_SHARE = 0.25
ABSENT = -1e3  # intercept of a class with no training text: it never wins


def all_classes(lr, y: np.ndarray, n_classes: int, n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """``(coef, intercept)`` over all ``n_classes`` from a fitted scikit-learn
    ``LogisticRegression`` (``None`` when ``y`` holds one class): classes without a
    training row get :data:`ABSENT`; a two-class fit (one row of coefficients, for the
    second class) becomes two rows whose softmax is the fit's sigmoid."""
    coef = np.zeros((n_classes, n_features))
    intercept = np.full(n_classes, ABSENT)
    if lr is None:
        intercept[np.unique(y)] = 0.0
    elif len(lr.classes_) == 2:
        intercept[lr.classes_[0]] = 0.0
        coef[lr.classes_[1]], intercept[lr.classes_[1]] = lr.coef_[0], lr.intercept_[0]
    else:
        coef[lr.classes_], intercept[lr.classes_] = lr.coef_, lr.intercept_
    return coef, intercept


def _vectorizer(**kwargs):
    """The one TF-IDF set-up, for fitting and for scoring with a saved vocabulary."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, dtype=np.float32, **kwargs)


@dataclass
class NgramClassifier:
    """Fitted state: ``terms`` (vocabulary in column order), ``idf``, ``coef`` (classes x
    terms) and ``intercept``. Build with :meth:`fit` or :meth:`from_arrays`."""

    terms: list[str]
    idf: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    _vectorizer: object = field(default=None, repr=False, compare=False)

    @classmethod
    def fit(cls, texts: Sequence[str], y: np.ndarray, n_classes: int,
            weights: np.ndarray | None = None, c: float = 32.0) -> NgramClassifier:
        """Fit on ``texts`` labelled with class indices ``y`` (``0 <= y < n_classes``);
        classes without a text get :data:`ABSENT` as their intercept."""
        from sklearn.linear_model import LogisticRegression

        vec = _vectorizer(min_df=min(MIN_DF, len(texts)))
        x = vec.fit_transform(list(texts))
        terms = [str(t) for t in vec.get_feature_names_out()]
        lr = None
        if len(np.unique(y)) >= 2:
            lr = LogisticRegression(C=c, max_iter=3000).fit(x, y, sample_weight=weights)
        coef, intercept = all_classes(lr, y, n_classes, len(terms))
        return cls(terms, vec.idf_.astype(np.float32), coef.astype(np.float32), intercept)

    def features(self, texts: Sequence[str]):
        """(n, n_terms) sparse TF-IDF rows of ``texts`` over the fitted vocabulary."""
        if self._vectorizer is None:
            vec = _vectorizer(vocabulary={t: i for i, t in enumerate(self.terms)})
            vec.idf_ = self.idf
            self._vectorizer = vec
        return self._vectorizer.transform(list(texts))

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """(n, n_classes) scores before the softmax."""
        return np.asarray(self.features(texts) @ self.coef.T) + self.intercept

    def reasons(self, text: str, cls: int, k: int = 3,
                min_idf: float = SHOWN_MIN_IDF) -> list[str]:
        """Up to ``k`` n-grams of ``text`` that raise class ``cls`` most above the average
        class (TF-IDF weight x coefficient margin), strongest first: not filler (idf at
        least ``min_idf``, no stop word, see :data:`SHOWN_MIN_IDF`), none sharing a word
        with one already named (so "padding side" does not also bring "padding")."""
        from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

        x = self.features([text]).tocsr()
        cols, vals = x.indices, x.data
        if not len(cols):
            return []
        contrib = vals * (self.coef[cls, cols] - self.coef[:, cols].mean(axis=0))
        out: list[str] = []
        for i in np.argsort(-contrib, kind="stable"):
            if contrib[i] <= SHOWN_MIN_SHARE * max(contrib.max(), 0.0) or len(out) >= k:
                break
            term = self.terms[cols[i]]
            words = set(term.split())
            if (self.idf[cols[i]] < min_idf or words & ENGLISH_STOP_WORDS
                    or any(words & set(o.split()) for o in out)):
                continue
            out.append(term)
        return out

    def arrays(self, prefix: str = "lex_") -> dict[str, np.ndarray]:
        """The state as named arrays for ``np.savez``. The terms travel as one
        newline-joined string (a unicode array of n terms would pad each to the longest)."""
        return {f"{prefix}terms": np.array("\n".join(self.terms)),
                f"{prefix}idf": self.idf.astype(np.float32),
                f"{prefix}coef": self.coef.astype(np.float32),
                f"{prefix}intercept": self.intercept.astype(np.float32)}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], prefix: str = "lex_") -> NgramClassifier:
        """Inverse of :meth:`arrays`; raises ``KeyError`` for a missing array and
        ``ValueError`` when their shapes disagree."""
        joined = str(arrays[f"{prefix}terms"])
        terms = joined.split("\n") if joined else []
        idf, coef = arrays[f"{prefix}idf"], arrays[f"{prefix}coef"]
        intercept = np.asarray(arrays[f"{prefix}intercept"], np.float64)
        if len(idf) != len(terms) or coef.shape != (len(intercept), len(terms)):
            raise ValueError(f"word n-gram arrays disagree: {len(terms)} terms, idf "
                             f"{idf.shape}, coef {coef.shape}, intercept {intercept.shape}")
        return cls(terms, idf, coef, intercept)
