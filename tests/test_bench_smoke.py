"""Smoke tests of the bench scripts: each ``main`` runs on toy sizes and returns numbers
of the right shape. They use the session's small FakeEmbedder index (a real corpus
slice) and write their JSON under ``tmp_path``. No timing is asserted: the benches
measure, RESULTS.md judges. Exact checks where the answer is known: flat search has
recall 1.0 against itself, and our builder path returns the raw encoder's vectors.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import FakeEmbedder


def _finite(x) -> bool:
    return isinstance(x, int | float) and math.isfinite(x)


def test_percentiles_and_table():
    from bench._common import md_table, percentiles

    p = percentiles([1.0, 2.0, 3.0, 4.0, 100.0])
    assert p["n"] == 5 and p["p50"] == 3.0 and p["max"] == 100.0
    assert p["p50"] <= p["p95"] <= p["p99"] <= p["max"]
    table = md_table([{"a": 1, "b": 0.5}, {"a": 2, "b": None}])
    assert table.splitlines()[0] == "| a | b |" and len(table.splitlines()) == 4


def test_scaling_rows_and_recall(small_index_dir, tmp_path):
    from bench import scaling

    res = scaling.main(sizes=(500,), dim=16, n_queries=10, index_dir=small_index_dir,
                       real_sizes=(100, None), out_dir=tmp_path)
    rows = res["rows"]
    # per dataset: flat + IVF at 2 nprobes + HNSW; random 500, corpus 100 and all
    assert len(rows) == 3 * 4
    assert {r["data"] for r in rows} == {"random", "corpus"}
    for r in rows:
        assert 0.0 <= r["recall_at_10"] <= 1.0 and r["p50_ms"] <= r["p95_ms"]
        assert r["index_mib"] > 0
        if r["index"] == "FlatIP":
            assert r["recall_at_10"] == 1.0
    assert json.loads((tmp_path / "scaling.json").read_text())["machine"]["nproc"]


def test_ivf_nlist_bounds():
    from bench.scaling import ivf_nlist

    assert ivf_nlist(1_000_000) == 4000
    assert ivf_nlist(1000) == 1000 // 39  # at least 39 training points per list
    assert ivf_nlist(10) == 1


def test_encoder_builder_matches_raw(small_index_dir, tmp_path):
    from bench import encoder

    res = encoder.main(n_texts=40, n_queries=8, batches=(8, 16), onnx=False,
                       index_dir=small_index_dir, embedder=FakeEmbedder(), out_dir=tmp_path)
    assert res["n_texts"] == 40 and "store.sqlite" in res["source"]
    paths = [r["path"] for r in res["rows"]]
    assert paths[0].startswith("raw encode") and paths[1].startswith("builder.embed")
    assert all(r["texts_per_s"] > 0 and _finite(r["vs_raw"]) for r in res["rows"])
    assert res["builder_min_cos_vs_raw"] == pytest.approx(1.0, abs=1e-5)


def test_overlap_at_k_identical_and_disjoint():
    from bench.encoder import overlap_at_k

    rng = np.random.default_rng(0)
    base = rng.standard_normal((30, 8)).astype(np.float32)
    q = rng.standard_normal((5, 8)).astype(np.float32)
    assert overlap_at_k(base, q, base, q, k=10) == 1.0
    assert overlap_at_k(base, q, base, -q, k=3) < 1.0


def test_build_rebuild_on_copy(small_index_dir, corpus_dir, tmp_path):
    from bench import build

    before = (small_index_dir / "manifest.json").read_text()
    res = build.main(index_dir=small_index_dir, corpus_dir=corpus_dir, embedder=FakeEmbedder(),
                     out_dir=tmp_path)
    full, rebuild = res["rows"]
    assert full["chunks"] > 0 and full["wall_s"] is None  # read from the manifest
    assert rebuild["embedded_new"] == 0 and rebuild["reused"] == full["chunks"]
    assert (small_index_dir / "manifest.json").read_text() == before  # original untouched
    assert set(res["budgets"]) == {"build_s", "build_met", "rebuild_s", "rebuild_met"}


def test_build_repeated_rebuilds_take_the_parts_over(small_index_dir, corpus_dir, tmp_path):
    from bench import build

    res = build.main(index_dir=small_index_dir, corpus_dir=corpus_dir, embedder=FakeEmbedder(),
                     out_dir=tmp_path, repeat=2)
    assert [r["run"] for r in res["rows"][1:]] == [
        "no-change rebuild (copy) 1/2", "no-change rebuild (copy) 2/2"]
    # nothing rewritten the second time
    assert set(res["rows"][-1]["parts"].split(",")) == {"vectors", "store", "bm25"}
    walls = [r["wall_s"] for r in res["rows"][1:]]
    assert res["budgets"]["rebuild_s"] == round(statistics.median(walls), 1)


def test_build_fresh_is_timed_with_cold_caches(corpus_dir, tmp_path):
    """Each fresh build embeds the training texts itself: a cache left by an earlier run
    (the user's, or the previous fresh build's) must not make it look faster."""
    from bench import build

    for run in ("first", "second"):
        fake = FakeEmbedder()
        res = build.main(index_dir=tmp_path / "no-index", corpus_dir=corpus_dir, full=True,
                         limit=10, embedder=fake, out_dir=tmp_path / run)
        fresh = res["rows"][0]
        assert fresh["run"] == "fresh build (limit 10)" and fresh["embedded_new"] > 0
        assert fake.texts_seen > fresh["embedded_new"] + 1000, run  # KB, posts, requests...


def test_llamaindex_baseline_shapes(small_index_dir, tmp_path):
    from bench import llamaindex_baseline as lb

    res = lb.main(index_dir=small_index_dir, sizes=(50, None), n_queries=5, budget_s=5.0,
                  out_dir=tmp_path, embedder=FakeEmbedder())
    rows = res["rows"]
    assert [r["system"] for r in rows] == ["ours", "llama-index", "llama-index / ours"] * 2
    for r in rows[:2] + rows[3:5]:
        assert r["search_p50_ms"] > 0 and r["disk_mib"] >= 0 and r["queries"] >= 1
    assert rows[4]["size"].startswith("all")


def test_query_engine_latency(small_index_dir, tmp_path):
    from bench import query

    res = query.main(index_dir=small_index_dir, app=False, embedder=FakeEmbedder(),
                     limit=6, out_dir=tmp_path)
    eng = res["engine"]
    assert eng["all"]["n"] == 6 and eng["all"]["p50"] > 0
    assert sum(v["n"] for v in eng["by_intent"].values()) == 6
    assert set(res["budgets"]) == {"ask_p50_ms", "ask_p50_met", "ask_p95_ms", "ask_p95_met"}


def test_retrieval_quality_metrics(small_index_dir, tmp_path):
    from bench import retrieval_quality as rq

    res = rq.main(index_dir=small_index_dir, embedder=FakeEmbedder(), limit=12,
                  out_dir=tmp_path)
    assert [r["mode"] for r in res["retrieval"]] == ["dense", "bm25", "hybrid"]
    for r in res["retrieval"]:
        assert 0.0 <= r["recall@5"] <= 1.0 and 0.0 <= r["nDCG@10"] <= 1.0
        assert r["hit@5"] >= r["recall@5"] - 1e-9  # a hit whenever anything is recalled
    assert len(res["recommender"]) == 2


def test_relevance_rules():
    from bench.retrieval_quality import is_relevant, model_matches, ndcg

    q = {"category": "Model Usage and Understanding", "good_models": ["t5-small"]}
    cats = {"thread:1": "Model Usage and Understanding", "thread:2": "Other"}
    assert is_relevant("thread:1", q, cats) and not is_relevant("thread:2", q, cats)
    assert is_relevant("model:google-t5/t5-small", q, cats)
    assert not model_matches("someone/t5-small-finetuned", ["t5-small"])
    assert ndcg([True, False], 1, 10) == 1.0 and ndcg([False, True], 1, 10) < 1.0


def test_proxy_hash_embedder_shape():
    from bench.proxy_index import HashEmbedder

    v = HashEmbedder(dim=384).encode(["load a tokenizer", "", "load the tokenizer"])
    assert v.shape == (3, 384) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v[[0, 2]], axis=1), 1.0) and not v[1].any()
    assert float(v[0] @ v[2]) > 0.5  # shared words -> similar vectors


def test_intent_cv_holds_out_only_labelled_questions(tmp_path):
    """Every held-out row is a real request or question (training-only requests stay
    in training), and recall / false tables fall as the threshold rises."""
    from bench import intent_cv

    res = intent_cv.main(folds=2, thresholds=(0.2, 0.5, 0.9), embedder=FakeEmbedder(),
                         out_dir=tmp_path)
    assert res["held_out_requests"] > 0 and res["held_out_other"] > res["held_out_requests"]
    assert res["training_only_requests"] > 0
    rec = [r["recall"] for r in res["table"]]
    fal = [r["false tables"] for r in res["table"]]
    assert rec == sorted(rec, reverse=True) and fal == sorted(fal, reverse=True)
    assert (tmp_path / "intent_cv.json").exists()


def test_intent_cv_task_gate_holds_out_every_request(tmp_path):
    """With a task gate every request is held out, and a gate that lets more questions
    through can only raise recall and false tables; one that lets none through changes
    nothing."""
    from bench import intent_cv

    def gate(text, vec):
        return 1.0 if "model" in text.lower() else 0.0

    res = intent_cv.main(folds=2, thresholds=(0.5,), embedder=FakeEmbedder(), out_dir=tmp_path,
                         task_confidence=gate, gates=((0.0, 0.5), (0.0, 2.0)))
    assert res["training_only_requests"] == 0
    base, wide, none = res["table"]
    assert wide["recall"] >= base["recall"] and wide["false tables"] >= base["false tables"]
    assert wide["recall"] > base["recall"] or base["recall"] == 1.0
    assert (none["recall"], none["false tables"]) == (base["recall"], base["false tables"])


def test_intent_cv_by_batch_holds_out_whole_batches(tmp_path):
    """``by_batch``: every collection batch of the held-out questions lands in one fold
    (random folds split batches), every fold holds some out, rows that may not be held
    out stay in training; and the run reads requests and other questions."""
    from bench import intent_cv

    eval_dir = intent_cv.ROOT / "eval"
    texts, _, holdable = intent_cv.rows(eval_dir)
    ids = intent_cv.row_ids(eval_dir)

    def spans(fold_of):
        out: dict[str, set[int]] = {}
        for t, f in zip(texts, fold_of, strict=True):
            if f >= 0:
                out.setdefault(ids[t].rsplit("-", 1)[0], set()).add(int(f))
        return out

    whole = intent_cv.fold_assignment(texts, holdable, 5, eval_dir, by_batch=True)
    assert len(spans(whole)) > 20 and all(len(f) == 1 for f in spans(whole).values())
    assert sorted(set(whole.tolist()) - {-1}) == [0, 1, 2, 3, 4]
    assert ((whole == -1) == ~np.asarray(holdable)).all()
    rand = intent_cv.fold_assignment(texts, holdable, 5, eval_dir)
    assert any(len(f) > 1 for f in spans(rand).values())
    res = intent_cv.main(folds=2, thresholds=(0.5,), embedder=FakeEmbedder(), out_dir=tmp_path,
                         by_batch=True)
    assert res["by_batch"] and res["held_out_requests"] > 0 and res["held_out_other"] > 0


def test_category_cv_holds_out_each_tune_question_once(small_index_dir, tmp_path):
    from bench import category_cv

    res = category_cv.main(folds=2, index_dir=small_index_dir, embedder=FakeEmbedder(),
                           out_dir=tmp_path)
    rows = {r["training texts"]: r for r in res["table"]}
    assert set(rows) == {"base", "+ known issues"}
    for r in rows.values():
        assert r["questions"] > 50 and 0.0 <= r["top-1"] <= r["top-3"] <= 1.0
        assert 0 <= r["sure"] <= r["questions"]
    # the calibration table: fewer questions pass a higher "sure" threshold
    counts = [c["questions"] for c in res["calibration"]]
    assert counts == sorted(counts, reverse=True) and counts[0] <= rows["+ known issues"]["questions"]
    # the known-issue steering: one row per weight pair, the same questions in each; with
    # both weights 0 the category is the classifier's own
    steer = res["steering"]
    assert len(steer) == len(category_cv.STEERING_WEIGHTS) and len({r["matched"] for r in steer}) == 1
    plain = next(r for r in steer if r["signature weight"] == 0.0 and r["meaning weight"] == 0.0)
    assert plain["top-1"] == rows["+ known issues"]["top-1"]


def test_category_head_cv_scores_every_pooled_question_once(small_index_dir, tmp_path):
    from bench import category_head_cv

    res = category_head_cv.main(folds=2, index_dir=small_index_dir, epochs=1, limit=40,
                                embedder=FakeEmbedder(), out_dir=tmp_path, max_len=32)
    assert res["questions"] == 40
    rows = {r["head weight"]: r for r in res["table"]}
    assert set(rows) == set(category_head_cv.HEAD_WEIGHTS)
    assert all(0.0 <= r["top-1"] <= r["top-3"] <= 1.0 for r in rows.values())
    saved = np.load(Path(res["path"]).with_suffix(".npz"))
    assert saved["mixture"].shape == saved["head"].shape == (40, 17)
    assert sorted(np.bincount(saved["fold"])) == [20, 20]
    g = saved["gold"]
    assert rows[0.0]["top-1"] == round(float(np.mean(saved["mixture"].argmax(1) == g)), 3)
    assert rows[1.0]["top-1"] == round(float(np.mean(saved["head"].argmax(1) == g)), 3)


def test_category_regression_holds_out_each_root_cause_code_once(small_index_dir, tmp_path):
    from bench import category_regression

    res = category_regression.main(folds=2, index_dir=small_index_dir, embedder=FakeEmbedder(),
                                   out_dir=tmp_path)
    rows = {r["set"]: r for r in res["table"]}
    assert not res["head"]  # a --limit build has no head: the rows without it only
    assert set(rows) == {"root-cause codes, mixture", "dev set, index classifier without head"}
    assert rows["root-cause codes, mixture"]["questions"] >= 60  # the study's 72 accepted answers
    assert all(0.0 <= r["top-1"] <= r["top-3"] <= 1.0 for r in rows.values())


def test_fresh_start_downloads_then_answers(small_index_dir, tmp_path):
    """bench/fresh_start.py end to end on the small index: a real push to the local Hub,
    a real ``app.py`` subprocess with an empty index dir and no auto-build (the launcher
    only swaps in the FakeEmbedder the small index was built with). It fails when the app
    cannot download the index or answer."""
    import sys

    from bench import fresh_start

    res = fresh_start.run(small_index_dir, extra_env={"ADVISOR_EMBED_MODEL": "fake-hash-64"},
                          cmd=[sys.executable, "tests/fake_embedder_app.py"], timeout=90,
                          out_dir=tmp_path)
    (row,) = res["runs"]
    assert row["error"] is None, (row["error"], row.get("app_log_tail"))
    assert row["index_matches_repo"] and row["download_mib"] > 0
    assert row["answer_chars"] > 0 and row["top_category"] and row["ask_attempts"] >= 1
    assert 0 < row["http_up_s"] <= row["first_answer_s"]
    assert row["engine_ready_s"] is not None and row["engine_ready_s"] <= row["first_answer_s"] + 1
    assert row["rss_mib"] > 0 and row["torch_loaded"] is False
    saved = json.loads((tmp_path / "fresh_start.json").read_text())
    assert saved["runs"][0]["first_answer_s"] == row["first_answer_s"]
    assert {"budget_s", "push_s", "median", "index", "machine"} <= set(saved)


def test_task_cv_refits_without_each_fold(small_index_dir, tmp_path):
    """Every labelled request (training rows and the tune half, never test) is read
    once, by a task model fitted without its fold; the grid's first row is the default."""
    from advisor import understanding as U
    from bench import task_cv

    before = {k: getattr(U, k) for k in ("W_KNN", "W_MENTION", "W_CUE")}
    grid = {"W_TEXT": (0.5, 0.7), "W_KNN": (0.1,), "W_MENTION": (before["W_MENTION"] + 0.1,),
            "W_CUE": (before["W_CUE"] + 0.1,)}
    res = task_cv.main(folds=2, index_dir=small_index_dir, out_dir=tmp_path,
                       embedder=FakeEmbedder(), grid=grid)
    rows = task_cv.labelled_requests(task_cv.ROOT / "eval")
    assert res["requests"] == len(rows) and {r["source"] for r in rows} == {"train", "real"}
    assert len(res["table"]) >= 2 and res["table"][0]["W_TEXT"] == 0.5
    for r in res["table"]:
        assert 0.0 <= r["model alone top-1"] <= r["top-3"] <= 1.0
        assert 0.0 <= r["task acc"] <= 1.0
    assert {k: getattr(U, k) for k in before} == before  # the module is left as found


def test_task_cv_can_hold_each_collection_batch_out_whole():
    """--by-batch: every batch of the labelled requests lands in one fold, and the folds
    are not empty; --grid values parse as floats, the first one the baseline."""
    from bench import task_cv

    rows = task_cv.labelled_requests(task_cv.ROOT / "eval")
    folds = task_cv.batch_folds(rows, 5)
    by_batch: dict[str, set[int]] = {}
    for r, f in zip(rows, folds, strict=True):
        by_batch.setdefault(r["id"].rsplit("-", 1)[0], set()).add(int(f))
    assert len(by_batch) >= 5 and all(len(f) == 1 for f in by_batch.values())
    assert sorted(set(folds.tolist())) == [0, 1, 2, 3, 4]
    assert task_cv.parse_grid(["W_CUE=0.25,0.15", "W_KNN=0.1"]) == {
        "W_CUE": (0.25, 0.15), "W_KNN": (0.1,)}
    for bad in ("W_CUE", "W_CUE=high", "=0.2"):
        with pytest.raises(ValueError, match="expected NAME=v1,v2"):
            task_cv.parse_grid([bad])


def test_task_head_cv_reads_every_pooled_request_once_per_weight(small_index_dir, tmp_path):
    """The task head experiment: a head fitted per fold on the packaged MiniLM, each
    pooled request read once per head weight; weight 0 is the shipped reading."""
    from bench import task_head_cv

    res = task_head_cv.main(folds=2, index_dir=small_index_dir, epochs=0.5, limit=40,
                            embedder=FakeEmbedder(), base_model="packaged:all-MiniLM-L6-v2",
                            max_len=24, out_dir=tmp_path)
    assert res["requests"] == 40
    rows = {r["head weight"]: r for r in res["table"]}
    assert set(rows) == set(task_head_cv.HEAD_WEIGHTS)
    assert all(0.0 <= r["task acc"] <= r["top-3"] <= 1.0 for r in rows.values())
    saved = np.load(Path(res["path"]).with_suffix(".npz"))
    assert saved["head"].shape == (40, len(saved["classes"]))
    np.testing.assert_allclose(saved["head"].sum(1), 1.0, atol=1e-4)
    assert sorted(np.bincount(saved["fold"])) == [20, 20]
    assert res["head alone"] == round(float(np.mean(
        saved["classes"][saved["head"].argmax(1)] == saved["gold"])), 3)


def test_kb_encoder_cv_fine_tunes_and_matches_each_question_once(small_index_dir, tmp_path):
    """The KB encoder experiment: per fold a fine-tuned encoder and the packaged one
    match every labelled question once per dense share; the shared dense share is left
    as found."""
    import advisor.known_issues as ki
    from bench import kb_encoder_cv

    before = ki.W_DENSE
    res = kb_encoder_cv.main(folds=2, index_dir=small_index_dir, epochs=0.02,
                             embedder=FakeEmbedder(), base_model="packaged:all-MiniLM-L6-v2",
                             max_len=16, max_entries=0, out_dir=tmp_path, limit=200)
    assert ki.W_DENSE == before
    assert res["questions"] == 200 and res["labelled"] > 20
    assert res["entries"] < len(ki.load_known_issues())
    assert {(r["encoder"], r["dense share"]) for r in res["table"]} == {
        (e, s) for e in ("packaged", "fine-tuned") for s in kb_encoder_cv.DENSE_SHARES}
    for r in res["table"]:
        assert 0.0 <= r["train first"] <= r["train top-3"] <= 1.0
        assert 0.0 <= r["train shown"] <= 1.0


def test_rank_fit_learns_weights_that_rank_the_good_model_first(small_index_dir, tmp_path):
    """On a toy set where only the likes feature tells the good model apart, both fits
    give likes the largest weight and rank it first; and the script runs end to end."""
    from bench import rank_fit

    rng = np.random.default_rng(0)

    def toy(n: int, prefix: str) -> list:
        out = []
        for r in range(n):
            x = rng.random((20, len(rank_fit.FEATURES)))
            x[0, rank_fit.FEATURES.index("likes")] = 1.5  # the good one: most likes
            ids = [f"{prefix}{r}-{i}" for i in range(20)]
            out.append((ids, x, {ids[0]}))
        return out

    data = toy(30, "m")
    for fitter in (rank_fit.fit, rank_fit.fit_listwise):
        w = fitter(data, 1.0)
        assert int(np.argmax(w)) == rank_fit.FEATURES.index("likes")
        assert rank_fit.metrics(data, w)["hit@1"] == 1.0
    # a pinned weight keeps its value whatever the fit says; the others are fitted alike
    pinned = rank_fit.fit(data, 1.0, pin={"likes": 0.0, "card": -0.5})
    assert pinned[rank_fit.FEATURES.index("likes")] == 0.0
    assert pinned[rank_fit.FEATURES.index("card")] == -0.5
    assert rank_fit.metrics(data, pinned)["hit@1"] < 1.0
    # the trees learn the same from 80 requests (a leaf holds >= 50 candidates) and rank
    # 20 others they never saw
    more = toy(100, "t")
    assert rank_fit.metrics(more[80:], rank_fit.fit_trees(more[:80]))["hit@1"] == 1.0
    res = rank_fit.main(folds=2, index_dir=small_index_dir, out_dir=tmp_path,
                        embedder=FakeEmbedder(), cs=(1.0,), trees=True)
    assert res["requests"] > 100 and 0.0 <= res["reachable"] <= 1.0
    assert res["table"][0]["weights"] == "hand (now)" and len(res["table"]) == 6
    assert res["table"][4]["weights"] == "pairwise, rules pinned, C=1.0 (held out)"
    assert res["table"][-1]["weights"] == "trees, pointwise (held out)"
    assert res["table"][1]["weights"] == "hand, without the accepted-models signal"


def test_rank_fit_never_lets_a_request_vote_for_itself(small_index_dir, monkeypatch):
    """Every request's features are read with its own row (and its fold) out of the
    recommender's solved-request store, and the whole store is put back afterwards."""
    from advisor.config import Config
    from advisor.engine import Advisor
    from bench import rank_fit

    rows = [r for r in rank_fit.labelled(rank_fit.ROOT / "eval") if r["source"] == "train"][:40]
    adv = Advisor(Config.from_env(index_dir=small_index_dir, disable_progress=True),
                  embedder=FakeEmbedder())
    rec = adv.parts.recommender
    whole = rec.scorer.solved
    assert {r["url"] for r in rows} <= {s.url for s in whole.rows}
    seen = []
    real = rank_fit.candidate_features

    def spy(rec_, row):
        urls = {s.url for s in rec_.scorer.solved.rows}
        seen.append((row["url"] in urls, len(urls)))
        return real(rec_, row)

    monkeypatch.setattr(rank_fit, "candidate_features", spy)
    folds, data = rank_fit.held_out_features(rec, rows, 5)
    assert len(seen) == len(rows) == len(data) and not any(inside for inside, _ in seen)
    assert all(0 < n < len(whole) for _, n in seen) and len(set(folds.tolist())) > 1
    assert rec.scorer.solved is whole


def test_runner_up_merges_and_scores_held_out_readings(small_index_dir, tmp_path):
    from advisor.modelfacts import fill_last
    from bench import runner_up
    from bench.rank_fit import labelled

    assert fill_last(list("abcde"), list("xaby"), runner_up.K, 2) == list("abcxy")
    assert fill_last(list("ab"), [], runner_up.K, 2) == list("ab")
    rows = labelled(runner_up.ROOT / "eval")[:6]
    readings = {r["id"]: {"gold": r["task"], "task": r["task"], "confidence": 0.6,
                          "alternatives": [["text-classification", 0.3]]} for r in rows}
    path = tmp_path / "task_cv.json"
    path.write_text(json.dumps({"held_out_readings": readings}), encoding="utf-8")
    res = runner_up.main(path, small_index_dir, ratios=(0.3, 0.9), slots=(2,),
                         out_dir=tmp_path, embedder=FakeEmbedder())
    assert res["requests"] == 6 and len(res["table"]) == 3
    plain, hedged, none = res["table"]
    assert hedged["hedged"] == 6 and none["hedged"] == 0  # 0.3 / 0.6 = 0.5 relative
    assert none["hit@5"] == plain["hit@5"] and hedged["hit@1"] == plain["hit@1"]


def test_runner_up_ranks_each_request_without_its_own_solved_request(small_index_dir, tmp_path,
                                                                     monkeypatch):
    """A request must not find its own accepted models in the solved-request store while
    the simulation ranks it (its fold is left out, as in rank_fit)."""
    from advisor.recommender import Recommender
    from bench import runner_up
    from bench.rank_fit import labelled

    rows = [r for r in labelled(runner_up.ROOT / "eval") if r["source"] == "train"][:12]
    readings = {r["id"]: {"gold": r["task"], "task": r["task"], "confidence": 0.6,
                          "alternatives": []} for r in rows}
    path = tmp_path / "task_cv.json"
    path.write_text(json.dumps({"held_out_readings": readings}), encoding="utf-8")
    url_of = {r["question"]: r["url"] for r in rows}
    seen = []
    real = Recommender.recommend

    def spy(self, text, filters=None, k=5):
        urls = {s.url for s in self.scorer.solved.rows}
        seen.append((url_of[text] in urls, len(urls)))
        return real(self, text, filters, k=k)

    monkeypatch.setattr(Recommender, "recommend", spy)
    res = runner_up.main(path, small_index_dir, ratios=(0.3,), slots=(2,), out_dir=tmp_path,
                         embedder=FakeEmbedder())
    assert res["requests"] == len(rows) == len(seen)
    assert not any(inside for inside, _ in seen) and all(n > 0 for _, n in seen)


def test_runner_up_options_parse_comma_separated_numbers():
    import argparse

    from bench.runner_up import numbers

    assert numbers("0.2,0.45", float) == (0.2, 0.45) and numbers("1,2", int) == (1, 2)
    with pytest.raises(argparse.ArgumentTypeError, match="comma-separated float.*'high'"):
        numbers("high", float)


def test_off_task_counts_tagged_picks_outside_the_task_and_its_stand_ins():
    from advisor.types import ModelInfo
    from bench.selection_quality import off_task

    pool = {m: ModelInfo(id=m, source="2026", pipeline_tag=t) for m, t in [
        ("a/st", "sentence-similarity"), ("a/fe", "feature-extraction"),
        ("a/tc", "text-classification"), ("a/asr", "automatic-speech-recognition"),
        ("a/none", None)]}
    got = ["a/st", "a/fe", "a/tc", "a/asr", "a/none"]
    # feature-extraction stands in for sentence-similarity; the labellers named a/tc
    assert off_task(got, ["a/tc"], "sentence-similarity", pool, {}) == (1, 4)
    assert off_task(got, [], "sentence-similarity", pool,
                    {"sentence-similarity": ("text-classification",)}) == (1, 4)
    assert off_task(got, [], None, pool, {}) == (4, 4)


def test_kb_rank_fit_matches_each_question_once_per_order(small_index_dir, tmp_path):
    """The learned-order fit: every question matched once per setting, with weights
    fitted without its fold; the matcher's shipped weights are not changed."""
    import advisor.known_issues as ki
    from advisor.kb_rank import RANK_FEATURES, RANK_WEIGHTS
    from bench import kb_rank_fit

    res = kb_rank_fit.main(folds=2, index_dir=small_index_dir, embedder=FakeEmbedder(),
                           limit=150, out_dir=tmp_path)
    assert res["questions"] == 150 and res["labelled"] > 20
    assert [r["order"] for r in res["table"]] == [
        "slots as meaning chose them", "by score alone", f"learned (held out, C={kb_rank_fit.C})",
        *(f"learned, a second slot within {w}" for w in kb_rank_fit.SECONDS)]
    for r in res["table"]:
        assert 0.0 <= r["train first"] <= r["train top-3"] <= 1.0
        assert 0.0 <= r["train shown"] <= 1.0
    # the learned order fills the slots meaning opened: no question gains a clean match
    shown_one = [r["train no-entry shown one"] for r in res["table"]]
    assert all(x <= shown_one[0] for x in shown_one)
    # a wider second-slot margin shows two entries to at least as many questions
    two = [r["two entries shown"] for r in res["table"][2:]]
    assert two == sorted(two) and two[-1] > two[0]
    assert list(res["weights"]) == list(RANK_FEATURES)
    assert len(RANK_WEIGHTS) == len(RANK_FEATURES)
    # the likely-fix confidence: the score rule first, then each level held out
    from advisor.kb_rank import CONFIDENCE_FEATURES
    assert [r["rule"] for r in res["framing"]] == [
        f"score >= {ki.STRONG_SEMANTIC_SCORE} (before)",
        *(f"confidence >= {t} (held out)" for t in kb_rank_fit.LEVELS)]
    called = [r["train called"] for r in res["framing"][1:]]
    assert called == sorted(called, reverse=True)  # a higher level calls fewer
    assert list(res["confidence"]) == [*CONFIDENCE_FEATURES, "bias"]


def test_kb_also_fit_lists_more_entries_without_changing_the_lead(small_index_dir, tmp_path):
    """The "also check" CV: the entries led with do not depend on how many are listed;
    listing more (no floor) shows the labelled entry at least as often, a floor lists
    fewer, and nothing is listed at 0."""
    from bench import kb_also_fit

    res = kb_also_fit.main(folds=2, index_dir=small_index_dir, embedder=FakeEmbedder(),
                           limit=150, out_dir=tmp_path)
    table = res["table"]
    assert res["questions"] == 150 and res["labelled"] > 20
    assert [(r["also"], r["floor"], r["with a step"]) for r in table] == [(0, 0.0, "all")] + [
        (c, f, "all" if s is None else s) for c in kb_also_fit.COUNTS if c
        for f in kb_also_fit.FLOORS
        for s in (kb_also_fit.STEPPED if c > 1 and not f else (None,))]
    for r in table:  # fewer steps shown: the same entries, no more of the key points
        if r["with a step"] != "all":
            full = next(x for x in table if (x["also"], x["floor"], x["with a step"])
                        == (r["also"], r["floor"], "all"))
            assert r["train shown"] == full["train shown"]
            assert r["train key points held"] <= full["train key points held"]
    assert len({r["train led with"] for r in table}) == 1
    assert table[0]["train shown"] == table[0]["train led with"]
    assert table[0]["train listed"] == 0 and table[0]["train no-entry listed one"] == 0
    unfloored = [r for r in table if r["floor"] == 0.0 and r["with a step"] == "all"]
    shown = [r["train shown"] for r in unfloored]
    assert shown == sorted(shown) and shown[-1] > shown[0]
    for r in table:
        assert r["train listed"] <= r["also"]
    for c in kb_also_fit.COUNTS[1:]:
        listed = [r["train listed"] for r in table if r["also"] == c]
        assert listed == sorted(listed, reverse=True)  # a higher floor lists fewer
