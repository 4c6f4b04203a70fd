"""Model selection end to end on the small real index: every `test` request of
eval/real_requests.jsonl goes through the recommender, and every snippet shown for its
top picks matches the picked model's library, task and format (as the index records
them). Also one request through the engine's /ask path (intent -> models)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from advisor.eval import split_of

REQUESTS = Path(__file__).resolve().parents[1] / "eval" / "real_requests.jsonl"


@pytest.fixture(scope="module")
def recommender(small_index):
    from advisor.recommender import Recommender
    from advisor.retrieval import HybridRetriever

    rec = Recommender(small_index, HybridRetriever(small_index))
    rec.prepare()
    return rec


def _test_requests() -> list[dict]:
    rows = [json.loads(x) for x in REQUESTS.read_text(encoding="utf-8").splitlines() if x.strip()]
    return [r for r in rows if split_of(r["source_url"]) == "test"]


def test_snippets_of_top_picks_match_library_task_and_format(recommender, small_index):
    checked = 0
    for r in _test_requests():
        for rec in recommender.recommend(r["question"], k=5):
            m = small_index.models[rec.model_id]
            code = rec.snippet
            if not code:
                assert rec.warnings, rec.model_id  # no snippet: the reason is shown
                continue
            compile(code, "<snippet>", "exec")
            checked += 1
            fmts = {f.lower() for f in (*m.formats, *m.tags)}
            if "gguf" in fmts:
                assert "pipeline(" not in code and "llama_cpp" in code, m.id
            if (m.library or "transformers") not in ("transformers",) and "pipeline(" in code:
                pytest.fail(f"{m.id} ({m.library}) got a transformers pipeline")
            used = re.search(r'pipeline\(\s*"([\w-]+)"', code)
            if used and m.pipeline_tag:
                assert used.group(1) in (m.pipeline_tag, "text-generation"), (m.id, used.group(1))
            if "custom_code" in fmts:
                assert "trust_remote_code=True" in code, m.id
    assert checked >= 50


def test_a_request_through_the_engine_gets_models(small_index):
    from advisor.config import Config
    from advisor.engine import Advisor

    adv = Advisor(Config(index_dir=small_index.index_dir, embed_model=small_index.embedder.model_id),
                  index=small_index)
    a = adv.advise("Which pretrained model should I use for named entity recognition in English news?")
    assert a.intent == "recommend" and a.models
    assert a.task == "token-classification"
    assert "Understood as:" in a.answer and "### Recommended models" in a.answer
    line = next(x for x in a.answer.splitlines() if "Understood as:" in x)
    assert "token-classification" in line and "\\*" not in line  # no escaped markup shown
