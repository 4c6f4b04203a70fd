"""The known-issue verifier experiment (bench/kb_fit.py): its readings of a match, its
labels and its model; and the matcher readings it relies on."""

from __future__ import annotations

import pytest

from advisor.known_issues import KnownIssue, KnownIssueMatch, KnownIssueMatcher, load_known_issues
from advisor.types import CategoryScore
from bench import kb_fit as kf


def _issue(id_: str, category: str, libraries: tuple[str, ...]) -> KnownIssue:
    return KnownIssue(id=id_, title=id_, category=category, subcategory="",
                      description="d", cause="c", fix=("f",), libraries=libraries)


CATS = [CategoryScore("Training Pipeline", "", 0.6), CategoryScore("Spaces", "", 0.3),
        CategoryScore("Onboarding", "", 0.1)]


@pytest.mark.parametrize("text,expected", [
    ("I use Sentence_Transformers 3 and transformers.js", {"sentence-transformers", "transformers.js"}),
    ("my transformers model", {"transformers"}),
    ("transformersjs is not a name we know; nor is datasetsx", set()),
])
def test_named_libraries_ignores_separators_and_needs_whole_names(text, expected):
    known = ["sentence-transformers", "transformers", "transformers.js", "datasets"]
    assert kf.named_libraries(text, known) == expected


def test_features_read_the_match_the_classifier_and_the_libraries():
    m = KnownIssueMatch(_issue("a", "Spaces", ("gradio",)), 0.41, "semantic",
                        semantic=0.41, margin=0.05)
    f = kf.features(m, 1, CATS, {"gradio"})
    assert f["signature"] == 0 and f["second"] == 1 and f["category_p"] == 0.3
    assert f["category_top"] == 0 and f["library_named"] == 1 and f["library_other"] == 0
    g = kf.features(m, 0, CATS, {"diffusers"})
    assert g["library_named"] == 0 and g["library_other"] == 1 and g["second"] == 0
    assert kf.features(m, 0, CATS[2:], set())["category_p"] == 0.0
    assert set(f) == set(kf.FEATURES)


def test_probability_and_labels():
    good = KnownIssueMatch(_issue("good", "Training Pipeline", ()), 0.6, "semantic",
                           semantic=0.6, margin=0.2)
    weak = KnownIssueMatch(_issue("weak", "Onboarding", ()), 0.31, "semantic",
                           semantic=0.31, margin=0.0)
    weights = {k: 0.0 for k in kf.FEATURES} | {"semantic": 10.0, "margin": 10.0}
    p_good = kf.probability(kf.features(good, 0, CATS, set()), weights, -5.0)
    p_weak = kf.probability(kf.features(weak, 1, CATS, set()), weights, -5.0)
    assert p_good > 0.5 > p_weak
    q = {"entry": "good", "key_points": ["Set the padding token to the eos token."]}
    assert kf.label(good.issue, q) and not kf.label(weak.issue, q)
    holds = KnownIssue(id="other", title="Padding", category="Training Pipeline",
                       subcategory="", description="no pad token", cause="c",
                       fix=("set the padding token to the eos token",))
    assert not kf.label(holds, q) and kf.label(holds, q, "useful")


def test_pasted_error_and_shared_identifiers():
    m = KnownIssueMatch(KnownIssue(id="x", title="t", category="Spaces", subcategory="",
                                   description="call from_pretrained with torch_dtype",
                                   cause="c", fix=("f",)), 0.4, "semantic", semantic=0.4)
    text = "ValueError: bad dtype when I call from_pretrained(torch_dtype=x) and my_func()"
    f = kf.features(m, 0, CATS, set(), text)
    assert f["pasted_error"] == 1.0
    assert f["identifiers_shared"] > 0 and f["identifiers_missing"] > 0
    assert kf.features(m, 0, CATS, set(), "how do I pick a model")["pasted_error"] == 0


def test_matcher_readings_give_the_lead_over_the_next_entry():
    matcher = KnownIssueMatcher(load_known_issues())  # TF-IDF only: no embedder
    assert "transformers" in matcher.libraries
    text = "ValueError: Asking to pad but the tokenizer does not have a padding token."
    ms = matcher.match(text)
    assert ms, "a pasted padding-token error must match an entry"
    scores = matcher.semantic_scores(text)
    for m in ms:
        j = matcher.issues.index(m.issue)
        assert m.semantic == pytest.approx(float(scores[j]), abs=1e-4)
        rest = max(float(s) for i, s in enumerate(scores) if i != j)
        assert m.margin == pytest.approx(float(scores[j]) - rest, abs=1e-4)


def test_kb_vote_cv_holds_each_fold_out_of_the_solved_posts(tmp_path, fake_embedder):
    """Two training posts of one entry, worded alike, in different folds: each is found
    through the other when the vote counts, and not without it; a post never votes for
    itself (a lone post gains nothing)."""
    import json

    from bench import kb_vote_cv as kv

    first = load_known_issues()[0]
    entry, its_fix = first.id, [first.fix[0]]  # a key point the entry's own steps hold
    text = "zzqx wvrk frobnicated my plumbus yesterday and nothing helps"
    urls = [f"https://example.org/t/{i}" for i in range(40)]
    a = urls[0]
    b = next(u for u in urls if kv.fold_of(u, 5) != kv.fold_of(a, 5))
    lone = next(u for u in urls if kv.fold_of(u, 5) not in (kv.fold_of(a, 5), kv.fold_of(b, 5)))
    rows = [{"id": "p1", "question": text, "category": "Spaces", "subcategory": "",
             "source_url": a, "known_issue": entry, "key_points": its_fix},
            {"id": "p2", "question": text + " again", "category": "Spaces", "subcategory": "",
             "source_url": b, "known_issue": entry, "key_points": its_fix},
            {"id": "p3", "question": "qqvv blorp snarfed my ozzle", "category": "Spaces",
             "subcategory": "", "source_url": lone, "known_issue": entry,
             "key_points": ["qqvvx blorpish snarfed ozzles"]}]
    (tmp_path / "train_posts.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (tmp_path / "real_questions.jsonl").write_text("")
    res = kv.main(folds=5, index_dir=tmp_path / "no-index", eval_dir=tmp_path,
                  weights=(0.0, 1.0), floors=(0.5,), out_dir=tmp_path, embedder=fake_embedder)
    assert res["solved_posts"] == 3 and res["labelled"] == 3 and res["tune"] == 0
    off, on = res["table"]
    assert off["weight"] == 0.0 and on["weight"] == 1.0
    assert off["train first"] == 0.0
    assert on["train first"] == pytest.approx(2 / 3, abs=1e-3)  # the pair finds each other, the lone post does not
    # the pair is shown the entry whose steps hold its key point; the lone post's point is nowhere
    assert on["train key points held"] == pytest.approx(2 / 3, abs=1e-3)
    assert off["train key points held"] < on["train key points held"]
