"""The Find-a-model tab's rendering (advisor.app.render.find_results)."""

from __future__ import annotations

from advisor.app.render import find_results
from advisor.types import ModelRecommendation


def _rec(mid: str, **kw) -> ModelRecommendation:
    return ModelRecommendation(
        model_id=mid, score=1.0, pipeline_tag="automatic-speech-recognition",
        library="transformers", downloads=10, likes=1, license="mit", license_family="oss",
        parameters=None, card_quality=0.5, missing_sections=[], source="2026",
        snippet="pipe = ...", **kw)


def test_the_top_pick_links_the_solved_request_that_suggested_it():
    url = "https://github.com/acme/asr/issues/3"
    _, snippet, notes, _ = find_results([_rec("acme/asr", solved_like=url), _rec("acme/other")])
    assert "Top pick" in notes and f"[a similar solved request]({url})" in notes
    assert snippet == "pipe = ..."
    _, _, plain, _ = find_results([_rec("acme/asr")])
    assert "similar solved request" not in plain
