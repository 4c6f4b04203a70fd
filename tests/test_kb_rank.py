"""The learned order of known-issue matches (advisor.kb_rank): what it reads, and that it
only fills the slots that meaning opened."""

from __future__ import annotations

import numpy as np
import pytest

from advisor.kb_rank import (
    CANDIDATES,
    CONFIDENCE_FEATURES,
    CONFIDENCE_WEIGHTS,
    RANK_FEATURES,
    RANK_WEIGHTS,
    SECOND_WITHIN,
    confidence,
    learned_leads,
    learned_order,
    learned_reading,
    rank_features,
)
from advisor.known_issues import (
    FALLBACK_SCORE,
    MIN_SEMANTIC_SCORE,
    KnownIssueMatcher,
    load_known_issues,
)

COL = {name: i for i, name in enumerate(RANK_FEATURES)}


@pytest.fixture(scope="module")
def matcher():
    from tests.conftest import FakeEmbedder

    return KnownIssueMatcher(load_known_issues(), FakeEmbedder())


def _texts(m, n=40):
    """Real entries' own descriptions and examples (the KB's words, not eval questions)."""
    return [t for i in m.issues[:n] for t in (i.description, i.example) if t]


def test_the_weights_cover_every_feature():
    assert len(RANK_WEIGHTS) == len(RANK_FEATURES)
    assert any(w != 0 for w in RANK_WEIGHTS)  # fitted, not a placeholder
    assert len(CONFIDENCE_WEIGHTS) == len(CONFIDENCE_FEATURES) == len(RANK_FEATURES) + 2
    assert any(w != 0 for w in CONFIDENCE_WEIGHTS)


def test_leads_are_against_the_best_other_candidate():
    np.testing.assert_allclose(learned_leads(np.array([3.0, 1.0, 2.5])), [0.5, -2.0, -0.5])
    np.testing.assert_allclose(learned_leads(np.array([2.0, 2.0])), [0.0, 0.0])
    assert learned_leads(np.array([1.0])).tolist() == [0.0]


@pytest.mark.parametrize("level", [None, 0.35])
def test_confidence_reads_the_features_and_the_learned_lead(matcher, monkeypatch, level):
    """In [0, 1]; the learned reading gives each candidate's confidence in the learned
    order; a semantic match is called the likely fix exactly when a level is set and its
    confidence reaches it (and it may steer): never as shipped (None), some at 0.35; a
    signature match needs none."""
    monkeypatch.setattr("advisor.kb_rank.STRONG_CONFIDENCE", level)
    called = hedged = 0
    for text in _texts(matcher):
        q = matcher.embedder.encode([text])[0]
        seen = matcher.read(text, q)
        order, learned, sure = learned_reading(matcher, seen, q)
        rows, X = rank_features(matcher, seen, q)
        by_row = dict(zip(rows.tolist(), confidence(X, X @ np.asarray(RANK_WEIGHTS)), strict=True))
        np.testing.assert_allclose(sure, [by_row[j] for j in order])
        assert order == learned_order(matcher, seen, q)[0] and (0 <= sure).all() and (sure <= 1).all()
        for m in matcher.match(text, q):
            if m.how == "signature":
                assert m.confidence is None and m.strong == m.steers
            else:
                assert m.confidence == pytest.approx(by_row[matcher._pos[m.issue.id]], abs=1e-3)
                assert m.strong == (m.steers and level is not None and m.confidence >= level)
                called += m.strong
                hedged += m.steers and not m.strong
    assert hedged and bool(called) == (level is not None)  # a level separates some matches


def test_features_describe_the_best_entries_by_score(matcher):
    for text in _texts(matcher, 10):
        q = matcher.embedder.encode([text])[0]
        seen = matcher.read(text, q)
        scores = seen.scores
        rows, X = rank_features(matcher, seen, q)
        assert X.shape == (CANDIDATES, len(RANK_FEATURES))
        np.testing.assert_allclose(X[:, COL["score"]], scores[rows])
        assert list(rows) == list(np.argsort(-scores, kind="stable")[:CANDIDATES])
        assert X[0, COL["below best"]] == 0 and (X[:, COL["below best"]] <= 0).all()
        np.testing.assert_allclose(X[:, COL["log rank"]], np.log1p(np.arange(CANDIDATES)))
        np.testing.assert_allclose(X[:, COL["dense"]], matcher._vecs[rows] @ q, rtol=1e-5)
        fired = {matcher._pos[h.issue.id] for h in matcher.signature_matches(text)}
        assert {int(r) for r, s in zip(rows, X[:, COL["signature"]], strict=True) if s} == fired & set(rows.tolist())
        assert (X[:, COL["solved count"]] == 0).all()  # no solved posts in this matcher
        fix = matcher._tfidf.transform([" ".join([matcher.issues[rows[0]].cause,
                                                  *matcher.issues[rows[0]].fix])])
        want = (matcher._tfidf.transform([text]) @ fix.T).toarray()[0, 0]
        assert X[0, COL["cause and fix tfidf"]] == pytest.approx(want)
        # the rows whose signature fired can be handed over instead of read again
        _, again = rank_features(matcher, seen, q, signed={int(rows[-1])})
        assert again[:, COL["signature"]].tolist() == [0.0] * (CANDIDATES - 1) + [1.0]


def test_the_learned_order_fills_only_the_slots_meaning_opened(matcher):
    """The same signature matches and as many semantic ones as without the learned order;
    each filled entry passes the fallback floor and is loose exactly when it is under the
    semantic threshold; weights that prefer a worse rank pick other entries."""
    reverse = np.zeros(len(RANK_FEATURES))
    reverse[COL["log rank"]] = 1.0  # the lowest-ranked candidates first
    changed = filled = 0
    matcher.second_within = 0.0  # no second slot of its own: the count is meaning's
    for text in _texts(matcher):
        q = matcher.embedder.encode([text])[0]
        matcher.rank_weights = None
        plain = matcher.match(text, q)
        matcher.rank_weights = RANK_WEIGHTS
        shipped = matcher.match(text, q)
        matcher.rank_weights = reverse
        flipped = matcher.match(text, q)
        matcher.rank_weights = RANK_WEIGHTS
        scores = matcher.semantic_scores(text, q)
        for got in (shipped, flipped):
            assert [m.issue.id for m in got if m.how == "signature"] == [
                m.issue.id for m in plain if m.how == "signature"]
            assert sum(m.how == "semantic" for m in got) == sum(m.how == "semantic" for m in plain)
            for m in got:
                if m.how == "semantic":
                    filled += 1
                    j = matcher._pos[m.issue.id]
                    assert scores[j] >= FALLBACK_SCORE - 1e-6
                    assert m.loose == (scores[j] < MIN_SEMANTIC_SCORE)
        sem = [m.issue.id for m in flipped if m.how == "semantic"]
        if sem:
            order, _ = learned_order(matcher, matcher.read(text, q), q, reverse)
            signed = {m.issue.id for m in flipped if m.how == "signature"}
            eligible = [matcher.issues[j].id for j in order
                        if scores[j] >= FALLBACK_SCORE and matcher.issues[j].id not in signed]
            assert sem == eligible[:len(sem)]
            changed += sem != [m.issue.id for m in plain if m.how == "semantic"]
    assert filled >= 10 and changed >= 1
    matcher.second_within = SECOND_WITHIN


def test_a_second_slot_opens_when_the_learned_scores_are_close(matcher):
    """With one semantic slot and no signature, a second entry is shown exactly when the
    two best eligible learned scores are within ``second_within``."""
    opened = 0
    for text in _texts(matcher):
        q = matcher.embedder.encode([text])[0]
        matcher.second_within = 0.0
        one = matcher.match(text, q)
        matcher.second_within = 1e9
        wide = matcher.match(text, q)
        matcher.second_within = SECOND_WITHIN
        if len(one) == 1 and one[0].how == "semantic":
            scores = matcher.semantic_scores(text, q)
            order, _ = learned_order(matcher, matcher.read(text, q), q)
            ok = [j for j in order if scores[j] >= FALLBACK_SCORE]
            assert [m.issue.id for m in wide] == [matcher.issues[j].id for j in ok[:2]]
            opened += len(wide) == 2
        else:
            assert [m.issue.id for m in wide] == [m.issue.id for m in one]
    assert opened >= 3


def test_the_entries_listed_after_the_fixes_are_next_in_the_learned_order(matcher):
    """``match_with_alternatives``: the same fixes as ``match``, then up to ``also``
    entries that were not shown, next in the learned order over the fallback floor; none
    when nothing matched, and none asked for when ``also`` is 0."""
    from advisor.known_issues import ALSO_CHECK

    listed = signed_too = 0
    for text in _texts(matcher):
        q = matcher.embedder.encode([text])[0]
        led, also = matcher.match_with_alternatives(text, q)
        assert [m.issue.id for m in led] == [m.issue.id for m in matcher.match(text, q)]
        assert matcher.match_with_alternatives(text, q, also=0)[1] == []
        assert len(also) <= ALSO_CHECK
        if not led:
            assert also == []
            continue
        scores = matcher.semantic_scores(text, q)
        order, _ = learned_order(matcher, matcher.read(text, q), q, RANK_WEIGHTS,
                                 {matcher._pos[m.issue.id] for m in matcher.signature_matches(text)})
        shown = {m.issue.id for m in led}
        eligible = [matcher.issues[j].id for j in order
                    if scores[j] >= FALLBACK_SCORE and matcher.issues[j].id not in shown]
        assert [m.issue.id for m in also] == eligible[:len(also)]
        assert len(also) == min(ALSO_CHECK, len(eligible))
        assert all(m.how == "semantic" and m.confidence is not None for m in also)
        listed += bool(also)
        signed_too += bool(also) and all(m.how == "signature" for m in led)
    assert listed >= 10 and signed_too >= 1
