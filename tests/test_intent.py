"""The intent model: regression plus the vote of the nearest labelled questions, its
file round trip, and a fit on real labelled rows (fake embedder)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from advisor import intent as I
from advisor.intent import IntentModel


def _unit(v):
    v = np.asarray(v, np.float32)
    return v / np.linalg.norm(v)


def _model(vecs, labels):
    """Zero regression coefficients (P = 0.5), so only the vote moves."""
    from advisor.labelled import LEX_FEATURES

    coef = np.zeros(len(vecs[0]) + LEX_FEATURES, np.float32)
    return IntentModel(coef, 0.0, vecs=np.asarray(vecs, np.float16),
                       labels=np.asarray(labels, np.uint8))


def test_vote_follows_the_nearest_questions_and_reweights_the_prior():
    req, other = _unit([1, 0, 0, 0]), _unit([0, 1, 0, 0])
    # 2 requests, 8 other questions: a prior of 0.2
    vecs = [req, _unit([1, 0.1, 0, 0])] + [other] * 8
    m = _model(vecs, [1, 1] + [0] * 8)
    assert m.vote(_unit([1, 0.05, 0, 0])) > 0.9
    assert m.vote(_unit([0, 1, 0.05, 0])) < 0.1
    # equally near both kinds: each class reweighted by the other's prior -> 0.5, not 0.2
    between = _unit([1, 1, 0, 0])
    m2 = _model([req, other, other, other, other], [1, 0, 0, 0, 0])
    assert m2.vote(between) == pytest.approx(0.5, abs=1e-3)


def test_proba_mixes_the_regression_and_the_vote():
    m = _model([_unit([1, 0, 0, 0]), _unit([0, 1, 0, 0])], [1, 0])
    q = _unit([1, 0.01, 0, 0])
    reg, vote = m.regression("which model?", q), m.vote(q)
    assert reg == pytest.approx(0.5)  # zero coefficients
    assert m.proba("which model?", q) == pytest.approx(
        (1 - I.KNN_WEIGHT) * reg + I.KNN_WEIGHT * vote)
    bare = IntentModel(m.coef, 0.0)  # no training vectors: the regression alone
    assert bare.vote(q) is None and bare.proba("which model?", q) == pytest.approx(reg)


def test_round_trip_keeps_the_vote_and_refuses_an_old_format(tmp_path):
    m = _model([_unit([1, 0, 0, 0]), _unit([0, 1, 0, 0])], [1, 0])
    m.save(tmp_path)
    back = IntentModel.load(tmp_path)
    q = _unit([0.9, 0.2, 0, 0])
    assert back.proba("x", q) == pytest.approx(m.proba("x", q))
    assert back.labels.tolist() == [1.0, 0.0]
    with np.load(tmp_path / I.NPZ_FILE) as z:  # half the bytes on disk
        assert z["vecs"].dtype == np.float16
    meta = json.loads((tmp_path / I.JSON_FILE).read_text())
    meta["format_version"] = 2
    (tmp_path / I.JSON_FILE).write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="rebuild the index"):
        IntentModel.load(tmp_path)


def test_fit_on_real_rows_reads_held_out_requests_and_posts(fake_embedder):
    """Fitted on every other labelled row of ``eval/`` (fake hashing embedder), the
    model puts the held-out requests above the held-out posts on average."""
    from advisor.config import LABELLED_POSTS_FILE

    texts, labels = I.training_rows(Path(LABELLED_POSTS_FILE).parent)
    texts, labels = texts[::4], labels[::4]  # a real slice, fast
    vecs = fake_embedder.encode(texts)
    tr = np.arange(len(texts)) % 2 == 0
    m = IntentModel.fit([t for t, k in zip(texts, tr, strict=True) if k], vecs[tr],
                        [y for y, k in zip(labels, tr, strict=True) if k])
    assert len(m.vecs) == int(tr.sum()) and set(m.labels.tolist()) == {0.0, 1.0}
    held = [(m.proba(t, v), y) for t, v, y, k in zip(texts, vecs, labels, tr, strict=True) if not k]
    req = np.mean([p for p, y in held if y == 1])
    other = np.mean([p for p, y in held if y == 0])
    assert req > other + 0.2


def test_nearest_weights_keep_the_k_nearest_and_weight_the_best_one():
    """The helper both kNN votes (intent, challenge classifier) read neighbours with."""
    from advisor.labelled import nearest_weights

    sims = np.array([[0.1, 0.9, 0.5, 0.8], [0.7, 0.2, 0.6, 0.1]], np.float32)
    top, w = nearest_weights(sims, 2, 0.1)
    assert [sorted(r) for r in top.tolist()] == [[1, 3], [0, 2]]
    best = np.take_along_axis(sims, top, axis=1).argmax(axis=1)
    assert np.allclose(w[np.arange(2), best], 1.0)
    assert np.allclose(np.sort(w, axis=1)[:, 0], np.exp(-1.0))  # 0.1 below the best, T 0.1
    top1, w1 = nearest_weights(sims[0], 10, 0.1)  # one row, fewer columns than k: all of them
    assert top1.shape == (1, 4) and w1.shape == (1, 4)
