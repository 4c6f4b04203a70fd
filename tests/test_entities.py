"""Entity linking resolves model ids named in a question against real corpus records."""

from __future__ import annotations

import pytest

from advisor.entities import EntityLinker, wants_smaller


@pytest.fixture(scope="module")
def linker(corpus_dir):
    from builder.report import SourceReport
    from builder.sources.cards2022 import read_cards

    models = {}
    for info, _ in read_cards(corpus_dir / "model_cards_2022.jsonl.gz", SourceReport("c"),
                              limit=3000):
        models[info.id] = info
    return EntityLinker(models)


def _some(linker, pred):
    return next(m for m in linker.models.values() if pred(m))


def test_full_ids_resolve_case_insensitively(linker):
    m = _some(linker, lambda m: "/" in m.id and m.downloads > 100)
    found = linker.find(f"I fine-tuned {m.id.upper()} yesterday and it fails")
    assert [x.model.id for x in found] == [m.id]


def test_bare_names_resolve_to_a_model(linker):
    m = _some(linker, lambda m: "/" in m.id and "-" in m.id.split("/")[1]
              and len(m.id.split("/")[1]) >= 8)
    bare = m.id.split("/")[1]
    found = linker.find(f"is {bare} any good for this?")
    assert found and found[0].model.id.lower().endswith(bare.lower())


def test_plain_words_and_unknown_ids_are_not_models(linker):
    assert linker.find("which model should I use for my project, a small one please") == []
    assert linker.find("I tried nobody/never-published-model-xyz") == []


def test_task_names_are_words_not_model_names(linker):
    """A repo named like a pipeline tag ("someone/text-classification") is not what a
    user means by "my text-classification model"; its full id still links."""
    import dataclasses

    some = _some(linker, lambda m: m.pipeline_tag == "text-classification")
    squatter = dataclasses.replace(some, id="someone/text-classification", downloads=10**9)
    models = dict(linker.models)
    models[squatter.id] = squatter
    lk = EntityLinker(models)
    assert lk.find("my text-classification model gives wrong labels") == []
    assert [x.model.id for x in lk.find("I tried someone/text-classification")] == [squatter.id]


def test_each_model_once_in_order(linker):
    a = _some(linker, lambda m: "/" in m.id)
    b = _some(linker, lambda m: "/" in m.id and m.id != a.id)
    found = linker.find(f"{b.id} vs {a.id} vs {b.id}")
    assert [x.model.id for x in found] == [b.id, a.id]


def test_wants_smaller():
    assert wants_smaller("is there a smaller version of t5-large?")
    assert not wants_smaller("is there a version of t5-large for German?")
