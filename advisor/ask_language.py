"""Which of the languages a request names is the one it asks for.

"The tagger we use handles English only; our clinic notes are in Portuguese" names two
languages and asks for one. The recommender ranks by the first asked language
(:func:`advisor.modelfacts.tier_of`: models stated to speak only other languages are
dropped), so with two or more named the order decides what is shown. The first named is
the ask in only about half of the labelled training requests that name two or more.

This module learns the order from those requests: every language named in a request that
names two or more is one example, labelled by whether it is the language most of the
request's good models speak (requests where no language or several tie are skipped).
The features are the words just before and just after each mention (kept apart), its
place among the languages named, how often it is named and whether it is English. A
logistic regression scores each language and the request's languages are ordered by
score. :func:`fit` runs at build time (``builder.taskfit``) and the weights are saved in
the index as a small JSON file; ``bench/RESULTS.md`` has the cross-validated accuracy.

Not here: finding the languages (:func:`advisor.tasks.language_mentions`) and translation
requests, which need every language named (their order is kept).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from advisor.taskmodel import read_index_json
from advisor.tasks import MULTILINGUAL, language_mentions
from advisor.types import ModelInfo

log = logging.getLogger(__name__)

ASK_LANGUAGE_FILE = "ask_language.json"
FORMAT_VERSION = 1
WINDOW_CHARS = 40  # characters read on each side of a mention
LEFT_WORDS = 4  # words kept before a mention ("only supports", "trained on")
RIGHT_WORDS = 3  # and after it ("text", "speakers", "only")
MAX_MENTIONS = 3  # mentions of one language read for its words
# Inverse L2 strength: 5-fold CV over the 180 training requests that name two or more
# languages and whose good models settle the asked one: it comes first for 0.544 (first
# named), 0.661 (first named not English), 0.711 with this model (0.683-0.717 at C 0.1-3;
# ``python -m bench.language_order_cv``, bench/RESULTS.md thirty-ninth pass)
C = 0.3
MIN_REQUESTS = 20  # fewer unambiguous requests: no model, the first named stays the ask
_WORD = re.compile(r"[a-z][a-z'-]+")


def _concrete(codes: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(c for c in codes if c != MULTILINGUAL))


def features(text: str) -> dict[str, dict[str, float]]:
    """``{language code: {feature: value}}`` for every language named in ``text`` (no
    entry for ``multilingual``), in the order they are first named."""
    low = text.lower()
    positions: dict[str, list[int]] = {}
    for pos, code, _ in language_mentions(text):
        if code != MULTILINGUAL:
            positions.setdefault(code, []).append(pos)
    codes = list(positions)
    out: dict[str, dict[str, float]] = {}
    for i, code in enumerate(codes):
        f: dict[str, float] = {"first": float(i == 0), "last": float(i == len(codes) - 1),
                               "english": float(code == "en"), "named": float(len(codes)),
                               "count": float(len(positions[code]))}
        for pos in positions[code][:MAX_MENTIONS]:
            for w in _WORD.findall(low[max(0, pos - WINDOW_CHARS):pos])[-LEFT_WORDS:]:
                f["L:" + w] = 1.0
            for w in _WORD.findall(low[pos:pos + WINDOW_CHARS])[1:1 + RIGHT_WORDS]:
                f["R:" + w] = 1.0
        out[code] = f
    return out


def asked_language(codes: Sequence[str], good: Iterable[str],
                   models: Mapping[str, ModelInfo]) -> str | None:
    """The one of ``codes`` most of the ``good`` models speak; ``None`` on a tie or when
    none of them states any of ``codes``."""
    votes = dict.fromkeys(codes, 0)
    for mid in good:
        m = models.get(mid)
        if m is None:
            continue
        langs = {x.lower() for x in m.languages}
        for c in codes:
            votes[c] += c in langs
    top = max(votes.values(), default=0)
    winners = [c for c, v in votes.items() if v == top]
    return winners[0] if top > 0 and len(winners) == 1 else None


@dataclass
class AskLanguage:
    """A fitted order: ``weights`` per feature name and an ``intercept``."""

    weights: dict[str, float]
    intercept: float

    def score(self, f: Mapping[str, float]) -> float:
        return self.intercept + sum(v * self.weights.get(k, 0.0) for k, v in f.items())

    def order(self, text: str, languages: Sequence[str]) -> list[str]:
        """``languages`` with the concrete ones ordered by score, best first (ties keep
        the order of mention); ``multilingual`` and codes the text does not name (a
        filter) keep their place after them. Fewer than two named: unchanged."""
        concrete = _concrete(languages)
        if len(concrete) < 2:  # most requests: no second reading of the text
            return list(languages)
        feats = features(text)
        named = [c for c in concrete if c in feats]
        if len(named) < 2:
            return list(languages)
        ranked = sorted(named, key=lambda c: -self.score(feats[c]))
        rest = [c for c in languages if c not in named]
        return ranked + rest

    def save(self, directory: Path) -> None:
        data = {"format_version": FORMAT_VERSION, "intercept": self.intercept,
                "weights": dict(sorted(self.weights.items()))}
        (Path(directory) / ASK_LANGUAGE_FILE).write_text(json.dumps(data, indent=0),
                                                          encoding="utf-8")

    @classmethod
    def load(cls, directory: Path | None) -> AskLanguage | None:
        """The index's fitted order, or ``None`` (absent or another format: the first
        language named stays the ask)."""
        data = read_index_json(directory, ASK_LANGUAGE_FILE, FORMAT_VERSION)
        if not data:
            return None
        return cls({str(k): float(v) for k, v in data.get("weights", {}).items()},
                   float(data.get("intercept", 0.0)))


def examples(requests: Iterable[tuple[str, str, Sequence[str]]],
             models: Mapping[str, ModelInfo]) -> list[tuple[dict[str, dict[str, float]], str]]:
    """``(features by language, asked language)`` of the ``(question, task, good model
    ids)`` requests that name two or more languages, are not translation and whose good
    models settle which one is asked."""
    out = []
    for question, task, good in requests:
        if task == "translation":
            continue
        feats = features(question)
        if len(feats) < 2:
            continue
        asked = asked_language(list(feats), good, models)
        if asked is not None:
            out.append((feats, asked))
    return out


def fit(requests: Iterable[tuple[str, str, Sequence[str]]],
        models: Mapping[str, ModelInfo], c: float = C) -> AskLanguage | None:
    """Fit on labelled requests (see :func:`examples`); ``None`` with fewer than
    :data:`MIN_REQUESTS` usable ones."""
    rows = examples(requests, models)
    if len(rows) < MIN_REQUESTS:
        log.info("No language-order model: %d usable labelled requests", len(rows))
        return None
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression

    x, y = [], []
    for feats, asked in rows:
        for code, f in feats.items():
            x.append(f)
            y.append(int(code == asked))
    vec = DictVectorizer()
    lr = LogisticRegression(C=c, max_iter=2000).fit(vec.fit_transform(x), y)
    weights = {str(k): float(w) for k, w in zip(vec.get_feature_names_out(), lr.coef_[0],
                                                strict=True) if w}
    log.info("Language-order model fitted on %d requests (%d mentions)", len(rows), len(x))
    return AskLanguage(weights, float(lr.intercept_[0]))
