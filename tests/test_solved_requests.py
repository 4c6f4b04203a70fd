"""Models accepted for similar solved requests (advisor.solved_requests): the neighbour
vote, the store the builder writes, and its use in the recommender's ranking."""

from __future__ import annotations

import json

import numpy as np
import pytest

from advisor import solved_requests as sr
from advisor.config import TRAIN_REQUESTS_FILE
from advisor.eval import split_of
from advisor.solved_requests import SolvedRequest, SolvedRequests
from tests.conftest import FakeEmbedder


def _unit(*xs):
    v = np.asarray(xs, np.float32)
    return v / np.linalg.norm(v)


def _store():
    rows = [SolvedRequest("", "asr", ("a/whisper", "b/wav2vec"), "https://t/1"),
            SolvedRequest("", "asr", ("a/whisper",), "https://t/2"),
            SolvedRequest("", "ner", ("c/bert-ner",), "https://t/3"),
            SolvedRequest("", "asr", ("d/far",), "https://t/4")]
    vecs = np.stack([_unit(1, 0, 0), _unit(0.8, 0.6, 0), _unit(1, 0, 0), _unit(0, 0, 1)])
    return SolvedRequests(rows, vecs)


def test_neighbours_of_the_task_vote_with_their_cosine_and_the_closest_thread_is_kept():
    positions = {"a/whisper": 0, "b/wav2vec": 1, "c/bert-ner": 2, "d/far": 3, "e/none": 4}
    scores, threads = _store().accepted(_unit(1, 0, 0), "asr", positions, 5)
    assert scores[0] == pytest.approx(1.0 + 0.8) and scores[1] == pytest.approx(1.0)
    assert scores[2] == 0  # accepted for another task
    assert scores[3] == 0  # cosine 0: under MIN_SIMILARITY
    assert scores[4] == 0 and threads == {0: "https://t/1", 1: "https://t/1"}
    any_task, _ = _store().accepted(_unit(1, 0, 0), None, positions, 5)
    assert any_task[2] == pytest.approx(1.0)
    none, nothing = _store().accepted(None, "asr", positions, 5)
    assert not none.any() and nothing == {}


def test_only_the_nearest_neighbours_vote(monkeypatch):
    monkeypatch.setattr(sr, "NEIGHBOURS", 1)
    scores, _ = _store().accepted(_unit(1, 0, 0), "asr", {"a/whisper": 0, "b/wav2vec": 1}, 2)
    assert scores[0] == pytest.approx(1.0)  # the second request (cosine 0.8) is not counted


def test_a_subset_leaves_rows_out():
    kept = _store().subset(lambda r: r.url != "https://t/1")
    assert len(kept) == 3 and kept.vectors.shape == (3, 3)
    scores, threads = kept.accepted(_unit(1, 0, 0), "asr", {"a/whisper": 0, "b/wav2vec": 1}, 2)
    assert scores[1] == 0 and threads == {0: "https://t/2"}


def test_store_round_trip_and_refusals(tmp_path, caplog):
    rows = [SolvedRequest("speech to text for Dutch", "automatic-speech-recognition",
                          ("openai/whisper-small",), "https://t/9")]
    emb = FakeEmbedder()
    assert sr.save_solved_requests(tmp_path, rows, emb.encode, emb.model_id) == 1
    back = sr.load_solved_requests(tmp_path, emb.model_id)
    assert back.rows[0].good == ("openai/whisper-small",) and back.rows[0].url == "https://t/9"
    np.testing.assert_allclose(back.vectors, emb.encode([rows[0].text]), atol=1e-6)
    again = tmp_path / "again"
    again.mkdir()

    def refuse(texts):
        raise AssertionError("an unchanged request was embedded again")

    assert sr.save_solved_requests(again, rows, refuse, emb.model_id,
                                   sr.stored_vectors(tmp_path, emb.model_id)) == 0
    np.testing.assert_array_equal(sr.load_solved_requests(again, emb.model_id).vectors, back.vectors)
    assert sr.stored_vectors(tmp_path, "another-model") == {}
    assert sr.load_solved_requests(tmp_path, "another-model") is None
    assert "another format or embedding model" in caplog.text
    assert sr.load_solved_requests(tmp_path / "nowhere", emb.model_id) is None
    (tmp_path / sr.FILE).write_bytes(b"not an npz")
    assert sr.load_solved_requests(tmp_path, emb.model_id) is None
    assert sr.save_solved_requests(tmp_path / "x", [], emb.encode, emb.model_id) == 0


def test_the_store_holds_training_requests_only():
    """Both halves of the evaluation requests stay held out of the store."""
    rows = sr.read_solved_requests(TRAIN_REQUESTS_FILE)
    assert len(rows) > 500 and all(r.task and r.good and r.url for r in rows)
    real = TRAIN_REQUESTS_FILE.parent / "real_requests.jsonl"
    held = {json.loads(x)["source_url"] for x in real.read_text().splitlines() if x.strip()}
    assert held and not held & {r.url for r in rows}
    assert {split_of(u) for u in held} == {"tune", "test"}


def test_the_build_stores_them_and_the_ranking_reads_them(small_index_dir, small_index):
    """The small index carries the real training requests (fake vectors); a request worded
    like a stored solved request lifts the model that request was pointed to."""
    from advisor.config import Config
    from advisor.recommender import Recommender
    from advisor.retrieval import HybridRetriever

    stored = sr.load_solved_requests(small_index_dir, FakeEmbedder().model_id)
    assert stored is not None and len(stored) == len(sr.read_solved_requests(TRAIN_REQUESTS_FILE))
    rec = Recommender(small_index, HybridRetriever(small_index, Config()))
    assert rec.scorer.solved is not None
    task = max({m.pipeline_tag for m in small_index.models.values() if m.pipeline_tag},
               key=lambda t: sum(m.pipeline_tag == t for m in small_index.models.values()))
    text = "a zebra-striped request about quokkas and marmalade"
    rec.scorer.solved = None
    plain = rec.recommend(text, {"task": task}, k=10)
    last = plain[-1].model_id
    assert all(not r.solved_like for r in plain)
    rec.scorer.solved = SolvedRequests(
        [SolvedRequest(text, task, (last,), "https://example.org/solved/1")],
        FakeEmbedder().encode([text]))
    lifted = rec.recommend(text, {"task": task}, k=10)
    ids = [r.model_id for r in lifted]
    assert ids.index(last) < len(ids) - 1
    assert next(r for r in lifted if r.model_id == last).solved_like == "https://example.org/solved/1"
    assert all(not r.solved_like for r in lifted if r.model_id != last)
