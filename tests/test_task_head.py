"""The fine-tuned task head: fitted on a small slice of the real labelled requests, saved
and loaded as the app reads it, mixed into request understanding, and the build stage that
fits, skips or reuses it."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from advisor.config import TRAIN_REQUESTS_FILE, Config
from advisor.errors import IndexMismatchError
from advisor.labelled import training_requests
from advisor.task_head import TASK_HEAD_DIR, TASK_HEAD_MODEL_PREFIX, W_HEAD, TaskHead
from advisor.understanding import RequestUnderstanding
from tests.test_understanding import FixedTaskModel

MODEL = "packaged:all-MiniLM-L6-v2"


def _slice(n_per_task: int = 16, tasks: int = 3) -> list[tuple[str, str]]:
    """The first requests of the most frequent tasks of eval/train_requests.jsonl."""
    rows = training_requests(TRAIN_REQUESTS_FILE)
    common = [t for t, _ in Counter(t for _, t in rows).most_common(tasks)]
    return [r for t in common for r in [x for x in rows if x[1] == t][:n_per_task]]


@pytest.fixture(scope="module")
def fitted():
    """Fitted once per module: 48 real requests of 3 tasks, 4 epochs of 48 tokens (~15 s)."""
    from builder.category_head import fit_text_head

    rows = _slice()
    tasks = sorted({t for _, t in rows})
    head = fit_text_head([q for q, _ in rows], [t for _, t in rows], tasks, MODEL, epochs=4,
                         max_len=48, disable_progress=True, what="task head")
    return rows, tasks, head


def test_head_learns_the_slice_and_loads_with_its_pipeline_tags(fitted, tmp_path):
    rows, tasks, head = fitted
    assert head.losses[-1] < 0.8 * head.losses[0]
    meta = head.save(tmp_path / TASK_HEAD_DIR, model_prefix=TASK_HEAD_MODEL_PREFIX)
    assert meta["model_id"] == TASK_HEAD_MODEL_PREFIX + MODEL
    loaded = TaskHead.load(tmp_path)
    assert loaded is not None and loaded.classes == tasks
    votes = [loaded.votes(q) for q, _ in rows]
    assert all(set(v) == set(tasks) and sum(v.values()) == pytest.approx(1.0, abs=1e-4)
               for v in votes)
    right = np.mean([max(v, key=v.get) == t for v, (_, t) in zip(votes, rows, strict=True)])
    assert right > 0.6  # three tasks: chance is 0.33
    # the ONNX export scores like the torch model
    torch_p = head.proba([q for q, _ in rows[:6]])
    onnx_p = np.array([[loaded.votes(q)[t] for t in tasks] for q, _ in rows[:6]])
    np.testing.assert_allclose(torch_p, onnx_p, atol=1e-4)


def test_no_head_directory_loads_none_and_a_category_list_is_still_checked(fitted, tmp_path):
    from advisor.category_head import CategoryHead

    assert TaskHead.load(tmp_path) is None and TaskHead.load(None) is None
    _, _, head = fitted
    head.save(tmp_path / TASK_HEAD_DIR, model_prefix=TASK_HEAD_MODEL_PREFIX)
    with pytest.raises(IndexMismatchError, match="other classes"):
        CategoryHead.load(tmp_path / TASK_HEAD_DIR)  # as a category head: refused


class FixedHead:
    def __init__(self, votes: dict[str, float]):
        self.classes = list(votes)
        self._votes = votes
        self.calls = 0

    def votes(self, text: str) -> dict[str, float]:
        self.calls += 1
        return dict(self._votes)


def test_understanding_mixes_the_head_by_its_weight():
    read = {"text-generation": 0.5, "summarization": 0.4, "translation": 0.1}
    text = "Which model should I pick for my project at work?"  # no task words
    without = RequestUnderstanding({}, None, FixedTaskModel(read))
    assert without.build_request(text)[0].task == "text-generation"
    head = FixedHead({"summarization": 0.9, "text-generation": 0.1})
    req, _ = RequestUnderstanding({}, None, FixedTaskModel(read), task_head=head).build_request(text)
    assert head.calls == 1
    assert req.task == "summarization"
    assert 0 < W_HEAD < 1 and "how people ask for it" in req.cues[0]


def _write_requests(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.write_text("".join(json.dumps({"question": q, "task": t}) + "\n" for q, t in rows),
                    encoding="utf-8")
    return path


def test_stage_skips_quick_builds_and_no_epochs(tmp_path):
    from builder.task_head import task_head_stage

    req = _write_requests(tmp_path / "req.jsonl", _slice(8, 3))
    cfg = Config(index_dir=tmp_path / "index", disable_progress=True)
    for c, limit in ((cfg, 100), (Config(index_dir=tmp_path / "index", task_head_epochs=0.0), None)):
        save, info = task_head_stage(c, limit, requests_file=req)
        assert info is None
        save(tmp_path)
        assert not (tmp_path / TASK_HEAD_DIR).exists()
    few = _write_requests(tmp_path / "few.jsonl", _slice(3, 2))
    assert task_head_stage(cfg, None, requests_file=few)[1] is None


def test_stage_fits_saves_and_reuses_when_inputs_are_unchanged(tmp_path, monkeypatch):
    import builder.task_head as stage

    req = _write_requests(tmp_path / "req.jsonl", _slice(8, 3))
    cfg = Config(index_dir=tmp_path / "index", disable_progress=True, task_head_epochs=0.05)
    save, info = stage.task_head_stage(cfg, None, requests_file=req)
    assert info["reused"] is False and info["requests"] == 24 and info["tasks"] == 3
    (tmp_path / "index").mkdir()
    save(tmp_path / "index")
    assert TaskHead.load(tmp_path / "index") is not None
    # the same inputs: the previous index's head is copied, nothing is fitted
    monkeypatch.setattr(stage.taskfit, "previous_section", lambda d, section: dict(info))
    monkeypatch.setattr("builder.category_head.fit_text_head",
                        lambda *a, **k: pytest.fail("refitted unchanged inputs"))
    save2, info2 = stage.task_head_stage(cfg, None, requests_file=req)
    assert info2["reused"] is True and info2["inputs_sha256"] == info["inputs_sha256"]
    (tmp_path / "out").mkdir()
    save2(tmp_path / "out")
    assert TaskHead.load(tmp_path / "out").classes == TaskHead.load(tmp_path / "index").classes
    # one more request changes the digest
    _write_requests(req, _slice(8, 3) + [("Which model transcribes Welsh speech?",
                                          "automatic-speech-recognition")])
    with pytest.raises(pytest.fail.Exception, match="refitted"):
        stage.task_head_stage(cfg, None, requests_file=req)


def test_votes_of_a_repeated_request_are_computed_once():
    """The intent gate and the recommender read the same request: one encoder pass."""

    class CountingHead:
        classes = ["summarization", "translation"]

        def __init__(self):
            self.calls = 0

        def proba(self, texts):
            self.calls += 1
            return np.array([[0.25, 0.75]] * len(texts))

    inner = CountingHead()
    head = TaskHead(inner)
    first = head.votes("Which model translates Welsh into English?")
    second = head.votes("Which model translates Welsh into English?")
    assert first == second == {"summarization": 0.25, "translation": 0.75}
    assert inner.calls == 1
    head.votes("Which model summarises Welsh news?")
    assert inner.calls == 2
