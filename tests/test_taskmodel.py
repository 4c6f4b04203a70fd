"""The task model learns pipeline tags from real model cards (a corpus slice)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from advisor.taskmodel import TaskGuess, TaskModel, blend, card_training_text

N_CARDS = 4000  # a real slice: enough tagged cards for ~10 tasks with >= 25 examples


@pytest.fixture(scope="module")
def card_slice(corpus_dir):
    from builder.report import SourceReport
    from builder.sources.cards2022 import read_cards

    texts, labels = [], []
    for info, doc in read_cards(corpus_dir / "model_cards_2022.jsonl.gz", SourceReport("c"),
                                limit=N_CARDS):
        if info.pipeline_tag:
            body = doc.text + "\n" + "\n".join(t for _, t in doc.sections)
            texts.append(card_training_text(body, info.pipeline_tag))
            labels.append(info.pipeline_tag)
    return texts, labels


def test_card_training_text_blanks_the_task_tag():
    out = card_training_text("Model a/b. task: token-classification; library: x", "token-classification")
    assert "token-classification" not in out and "token classification" not in out
    assert "library" in out


def test_fit_predicts_held_out_cards_better_than_the_majority(card_slice, fake_embedder):
    texts, labels = card_slice
    rng = np.random.default_rng(0)
    order = rng.permutation(len(texts))
    cut = int(0.8 * len(order))
    tr, te = order[:cut], order[cut:]
    vecs = fake_embedder.encode(texts)
    tm = TaskModel.fit([texts[i] for i in tr], vecs[tr], [labels[i] for i in tr])
    known = set(tm.labels)
    held = [i for i in te if labels[i] in known]
    acc = np.mean([tm.predict(texts[i], vecs[i], k=1)[0].task == labels[i] for i in held])
    majority = Counter(labels[i] for i in held).most_common(1)[0][1] / len(held)
    assert acc > majority + 0.15, (acc, majority)
    assert acc > 0.6


def test_save_load_round_trip(card_slice, fake_embedder, tmp_path):
    texts, labels = card_slice
    vecs = fake_embedder.encode(texts[:800])
    tm = TaskModel.fit(texts[:800], vecs, labels[:800],
                       descriptions={labels[0]: "a description of the first task"},
                       description_vectors={labels[0]: vecs[0]})
    tm.save(tmp_path)
    back = TaskModel.load(tmp_path)
    q = "which model transcribes german speech recordings"
    qv = fake_embedder.encode([q])[0]
    assert back.labels == tm.labels
    np.testing.assert_allclose(back.proba(q, qv), tm.proba(q, qv), rtol=1e-5, atol=1e-6)


def test_load_refuses_another_format_version(tmp_path, card_slice, fake_embedder):
    import json

    texts, labels = card_slice
    tm = TaskModel.fit(texts[:600], fake_embedder.encode(texts[:600]), labels[:600])
    tm.save(tmp_path)
    meta = json.loads((tmp_path / "taskmodel.json").read_text())
    meta["format_version"] = 99
    (tmp_path / "taskmodel.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="rebuild the index"):
        TaskModel.load(tmp_path)


def test_fit_needs_two_tasks():
    with pytest.raises(ValueError, match="at least 2 tasks"):
        TaskModel.fit(["a"] * 30, np.zeros((30, 4), np.float32), ["x"] * 30)


def test_blend_moves_mass_to_the_vote_and_keeps_a_distribution():
    g = [TaskGuess("a", 0.6), TaskGuess("b", 0.4)]
    out = blend(g, {"b": 3.0}, 0.5, "votes")
    assert out[0].task == "b" and abs(sum(x.prob for x in out) - 1.0) < 1e-9
    assert "votes" in out[0].evidence
    assert blend(g, {}, 0.5, "none") == g


def test_labelled_requests_teach_how_people_ask(card_slice, fake_embedder):
    """Real requests (the training-only file's rows) join the fit: a phrasing no card
    uses moves to the task its requests were labelled with, and requests of a task the
    cards do not cover are ignored."""
    from advisor.config import TRAIN_REQUESTS_FILE
    from advisor.labelled import training_requests

    texts, labels = card_slice
    vecs = fake_embedder.encode(texts)
    tasks = Counter(labels).most_common()
    rare = next(t for t, n in tasks if n >= 25 and t != tasks[0][0])
    ask = "zqxv plorb wibble gadget for my gizmo"  # words no card uses
    requests = [(f"{ask} please", rare), (f"a {ask}", rare), (f"need {ask} now", rare),
                ("whatever words", "no-such-task")]
    plain = TaskModel.fit(texts, vecs, labels)
    taught = TaskModel.fit(texts, vecs, labels, requests=requests,
                           request_vectors=fake_embedder.encode([q for q, _ in requests]))
    q, qv = ask, fake_embedder.encode([ask])[0]
    assert taught.predict(q, qv, k=1)[0].task == rare
    assert plain.predict(q, qv, k=1)[0].prob < taught.predict(q, qv, k=1)[0].prob or (
        plain.predict(q, qv, k=1)[0].task != rare)
    assert "no-such-task" not in taught.labels
    rows = training_requests(TRAIN_REQUESTS_FILE)  # committed: each row has question and task
    assert len(rows) >= 100 and all(q and t for q, t in rows)


def test_a_rare_task_is_learned_only_when_a_description_or_request_anchors_it(card_slice,
                                                                           fake_embedder):
    """A tag with fewer cards than MIN_MODELS_PER_TASK is dropped, unless prompts or
    labelled requests name it and it has at least MIN_MODELS_ANCHORED cards."""
    from advisor.taskmodel import MIN_MODELS_ANCHORED, MIN_MODELS_PER_TASK

    texts, labels = card_slice
    n = Counter(labels)
    rare = sorted(t for t, c in n.items() if MIN_MODELS_ANCHORED <= c < MIN_MODELS_PER_TASK)
    tiny = sorted(t for t, c in n.items() if c < MIN_MODELS_ANCHORED)
    assert len(rare) >= 2, n  # the real slice has such tags
    vecs = fake_embedder.encode(texts)
    plain = TaskModel.fit(texts, vecs, labels)
    assert not set(rare) & set(plain.labels)
    desc = {rare[0]: f"a described task: {rare[0]}"}
    asked = [("please find me such a model", rare[1])] + [("a model", t) for t in tiny]
    anchored = TaskModel.fit(texts, vecs, labels, descriptions=desc,
                             description_vectors={rare[0]: vecs[0]}, requests=asked,
                             request_vectors=fake_embedder.encode([q for q, _ in asked]))
    assert {rare[0], rare[1]} <= set(anchored.labels)
    assert not set(rare[2:]) & set(anchored.labels)  # neither described nor asked for
    assert not set(tiny) & set(anchored.labels)  # too few cards even when asked for


@pytest.fixture(scope="module")
def card_records(corpus_dir):
    """(record, card text) of the tagged cards of the same real slice."""
    from builder.report import SourceReport
    from builder.sources.cards2022 import read_cards

    return [(info, doc.text + "\n" + "\n".join(t for _, t in doc.sections))
            for info, doc in read_cards(corpus_dir / "model_cards_2022.jsonl.gz",
                                        SourceReport("c"), limit=N_CARDS)
            if info.pipeline_tag]


def test_infer_untagged_reads_untagged_cards_like_tagged_ones(card_records, fake_embedder,
                                                              tmp_path):
    import dataclasses

    from advisor.taskmodel import load_inferred, save_inferred
    from builder.taskfit import infer_untagged

    rng = np.random.default_rng(1)
    order = rng.permutation(len(card_records))
    cut = int(0.8 * len(order))
    texts = [card_training_text(t, m.pipeline_tag) for m, t in card_records]
    vecs = fake_embedder.encode(texts)
    tm = TaskModel.fit([texts[i] for i in order[:cut]], vecs[order[:cut]],
                       [card_records[i][0].pipeline_tag for i in order[:cut]])
    held = [i for i in order[cut:] if card_records[i][0].pipeline_tag in set(tm.labels)]
    # the held-out cards lose their tag; one tagged card stays tagged (never inferred)
    models = {card_records[i][0].id: dataclasses.replace(card_records[i][0], pipeline_tag=None)
              for i in held}
    kept = card_records[order[0]][0]
    models[kept.id] = kept
    rows = held + [int(order[0])]
    got = infer_untagged(tm, [texts[i] for i in rows], ["model"] * len(rows),
                         [f"model:{card_records[i][0].id}" for i in rows], vecs[rows], models)
    assert kept.id not in got and set(got) == {card_records[i][0].id for i in held}
    truth = {card_records[i][0].id: card_records[i][0].pipeline_tag for i in held}
    acc = np.mean([got[mid][0] == truth[mid] for mid in got])
    majority = Counter(truth.values()).most_common(1)[0][1] / len(truth)
    assert acc > majority + 0.15 and acc > 0.6, (acc, majority)
    # the batch path gives what one prediction at a time gives
    i = held[0]
    p = tm.proba(texts[i], vecs[i])
    mid = card_records[i][0].id
    assert got[mid][0] == tm.labels[int(p.argmax())]
    assert got[mid][1] == pytest.approx(float(p.max()), abs=1e-5)
    save_inferred(tmp_path, got)
    back = load_inferred(tmp_path)
    assert back.keys() == got.keys() and back[mid][0] == got[mid][0]


def test_load_inferred_without_or_with_a_stale_file(tmp_path):
    import json

    from advisor.taskmodel import INFERRED_FILE, load_inferred

    assert load_inferred(None) == {} and load_inferred(tmp_path) == {}
    (tmp_path / INFERRED_FILE).write_text(json.dumps({"format_version": 99, "models": {"a/b": ["fill-mask", 0.9]}}))
    assert load_inferred(tmp_path) == {}
    (tmp_path / INFERRED_FILE).write_text("{not json")
    assert load_inferred(tmp_path) == {}


def test_a_reused_task_model_reuses_its_inferred_tasks(tmp_path, monkeypatch, fake_embedder):
    """Unchanged inputs: the previous index's inferred tasks are copied, not recomputed
    (the inference reads the same model chunks the digest covers)."""
    import json

    import builder.taskfit as taskfit
    from advisor.config import Config
    from advisor.taskmodel import INFERRED_FILE, JSON_FILE, NPZ_FILE, save_inferred

    prev, out = tmp_path / "prev", tmp_path / "out"
    prev.mkdir()
    out.mkdir()
    for name in (NPZ_FILE, JSON_FILE):
        (prev / name).write_bytes(b"previous task model")
    save_inferred(prev, {"a/untagged": ("fill-mask", 0.9), "b/untagged": ("text-generation", 0.7)})
    monkeypatch.setattr(taskfit, "inputs_sha256", lambda *a: "same")
    monkeypatch.setattr(taskfit, "previous_section", lambda d, section: {"inputs_sha256": "same"})
    monkeypatch.setattr(taskfit, "fit_intent_stage", lambda *a: (None, "i", False))

    def no_inference(*a, **kw):
        raise AssertionError("inferred again although the inputs are unchanged")

    monkeypatch.setattr(taskfit, "infer_untagged", no_inference)
    save, info = taskfit.fit_task_stage(Config().replace(index_dir=prev), [],
                                        np.zeros((0, 4), np.float32), [], fake_embedder)
    save(out)
    assert info["reused"] and info["inferred_untagged"] == 2
    assert json.loads((out / INFERRED_FILE).read_text()) == json.loads((prev / INFERRED_FILE).read_text())
