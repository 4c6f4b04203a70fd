"""The known-issues knowledge base: every entry is valid and its own example finds it."""

from __future__ import annotations

import pytest

from advisor.errors import KnowledgeBaseError
from advisor.known_issues import (
    KnownIssueMatcher,
    load_known_issues,
)
from advisor.taxonomy import CHALLENGE_CATEGORIES

MIN_ENTRIES = 200


@pytest.fixture(scope="module")
def issues():
    return load_known_issues()


@pytest.fixture(scope="module")
def matcher(issues):
    return KnownIssueMatcher(issues)  # signatures + TF-IDF (no embedder: fast, exact)


def test_the_knowledge_base_is_large_and_valid(issues):
    assert len(issues) >= MIN_ENTRIES
    assert len({i.id for i in issues}) == len(issues)
    for i in issues:
        assert i.category in CHALLENGE_CATEGORIES, i.id
        assert i.fix and i.cause and i.description, i.id
        assert i.threads and all(u.startswith("https://") for u in i.threads), i.id
        assert i.example, i.id


def test_every_example_finds_its_own_entry(matcher, issues):
    """An example matches its own signature, or (entries without signatures) ranks its
    entry among the top 3 by meaning."""
    missed = []
    for i in issues:
        if i.signatures:
            if i.id not in {m.issue.id for m in matcher.signature_matches(i.example)}:
                missed.append(i.id)
        else:
            scores = matcher.semantic_scores(i.example)
            top = [matcher.issues[j].id for j in scores.argsort()[::-1][:3]]
            if i.id not in top:
                missed.append(i.id)
    assert not missed, missed


def test_signatures_do_not_fire_on_plain_questions(matcher):
    for text in ("Which model should I use for German sentiment analysis?",
                 "How do I get started with the course?",
                 "My Space shows a blank page after I changed the title"):
        hits = [m.issue.id for m in matcher.signature_matches(text)]
        assert len(hits) <= 1, (text, hits)


def test_a_broken_file_is_reported_by_name(tmp_path):
    (tmp_path / "bad-entry.yaml").write_text("id: bad-entry\ntitle: [unclosed\n")
    with pytest.raises(KnowledgeBaseError, match="bad-entry.yaml"):
        load_known_issues(tmp_path)
    (tmp_path / "bad-entry.yaml").write_text(
        "id: other\ntitle: t\ncategory: Spaces\ndescription: d\ncause: c\nfix: [x]\n")
    with pytest.raises(KnowledgeBaseError, match="must equal the file name"):
        load_known_issues(tmp_path)
    (tmp_path / "bad-entry.yaml").write_text(
        "id: bad-entry\ntitle: t\ncategory: Nope\ndescription: d\ncause: c\nfix: [x]\n")
    with pytest.raises(KnowledgeBaseError, match="unknown category"):
        load_known_issues(tmp_path)


PAD_TOKEN_ENTRY = (
    "id: pad-token\ntitle: Set a pad token\ncategory: Training Pipeline\n"
    "description: the tokenizer has no pad token for batching gpt2\n"
    "applies_when: the tokenizer has no pad token at all\n"
    "not_when: padding side left right already set pad token eos generation repeats\n"
    "cause: c\nfix: [set tokenizer.pad_token]\nthreads: ['https://x']\nexample: e\n")
CONTRADICTED = "I already set pad token eos but generation repeats with padding side right"


def test_premise_check_marks_a_contradicted_entry_as_doubtful(tmp_path, fake_embedder):
    (tmp_path / "pad-token.yaml").write_text(PAD_TOKEN_ENTRY)
    m = KnownIssueMatcher(load_known_issues(tmp_path), fake_embedder)
    clean = m.match("gpt2 tokenizer has no pad token for batching")
    assert clean and not clean[0].premise_doubt
    got = m.match(CONTRADICTED)
    assert got and got[0].issue.id == "pad-token"
    assert got[0].premise_doubt and not got[0].strong  # shown as possibly related


def test_a_doubtful_match_gives_way_to_a_clean_one(tmp_path, fake_embedder):
    (tmp_path / "pad-token.yaml").write_text(PAD_TOKEN_ENTRY)
    (tmp_path / "generation-repeats.yaml").write_text(
        "id: generation-repeats\ntitle: Generation repeats itself\n"
        "category: Incomprehensible output\n"
        "description: generation repeats with padding side right after I set pad token eos\n"
        "cause: c\nfix: [use repetition_penalty]\nthreads: ['https://y']\nexample: e\n")
    m = KnownIssueMatcher(load_known_issues(tmp_path), fake_embedder)
    got = m.match(CONTRADICTED)
    assert [x.issue.id for x in got] == ["generation-repeats"]
    assert not got[0].premise_doubt


OOM_TRAIN = (
    "id: oom-train\ntitle: Out of memory while fine-tuning\ncategory: Memory & Performance\n"
    "signatures: ['CUDA out of memory']\n"
    "description: fine-tuning with Trainer runs out of GPU memory batch size gradient accumulation\n"
    "applies_when: training or fine-tuning a model with an optimizer and gradients\n"
    "not_when: only serving a model for inference, no training at all\n"
    "cause: c\nfix: [smaller batch]\nthreads: ['https://x']\nexample: 'CUDA out of memory'\n")
OOM_SERVE = (
    "id: oom-serve\ntitle: Out of memory while serving a model\ncategory: Memory & Performance\n"
    "signatures: ['CUDA out of memory']\n"
    "description: serving a model for inference runs out of GPU memory, stale processes hold memory\n"
    "applies_when: serving or running inference\nnot_when: ''\n"
    "cause: c\nfix: [check nvidia-smi]\nthreads: ['https://y']\nexample: 'CUDA out of memory'\n")
SERVING = ("I am only serving a model for inference, no training at all, and get "
           "CUDA out of memory although stale processes may hold memory")


def test_several_signature_matches_are_ordered_by_meaning(tmp_path, fake_embedder):
    """Both entries' signature fires; the one the question reads like leads, and the
    one whose premise it contradicts gives way because another entry matches."""
    (tmp_path / "oom-train.yaml").write_text(OOM_TRAIN)
    (tmp_path / "oom-serve.yaml").write_text(OOM_SERVE)
    m = KnownIssueMatcher(load_known_issues(tmp_path), fake_embedder)
    got = m.match(SERVING)
    assert [x.issue.id for x in got] == ["oom-serve"] and got[0].how == "signature"


def test_a_lone_signature_match_is_not_hedged_by_its_premise(tmp_path, fake_embedder):
    """An exact error line with no other candidate stays the fix, premise or not."""
    (tmp_path / "oom-train.yaml").write_text(OOM_TRAIN)
    m = KnownIssueMatcher(load_known_issues(tmp_path), fake_embedder)
    got = m.match(SERVING)
    assert [x.issue.id for x in got] == ["oom-train"] and got[0].strong


def test_build_time_vectors_are_used_at_load(issues, fake_embedder, tmp_path):
    from advisor.kb_store import kb_texts, load_vector_cache, save_vector_cache

    some = issues[:20]
    assert save_vector_cache(tmp_path, some, fake_embedder) == len(kb_texts(some))
    cache = load_vector_cache(tmp_path)
    before = fake_embedder.texts_seen
    m = KnownIssueMatcher(some, fake_embedder, cache=cache)
    assert fake_embedder.texts_seen == before  # nothing embedded at load
    fresh = KnownIssueMatcher(some, fake_embedder)
    assert (m._vecs == fresh._vecs).all()
    # a rebuild embeds only texts it has not seen
    assert save_vector_cache(tmp_path, issues[:21], fake_embedder, cache) >= 1
    assert save_vector_cache(tmp_path, some, fake_embedder, cache) == 0


GATED = (
    "id: gated-wait\ntitle: Access request to a gated model is still pending\ncategory: Website & Pricing\n"
    "description: I requested access to a gated repository and the author has not approved it\n"
    "cause: c\nfix: [wait or contact the author]\nthreads: ['https://x']\nexample: e\n")
OTHER = (
    "id: other-entry\ntitle: Tokenizer has no pad token\ncategory: Training Pipeline\n"
    "description: batching with gpt2 fails because the tokenizer has no pad token\n"
    "cause: c\nfix: [set pad token]\nthreads: ['https://y']\nexample: e\n")
ASKED = "No email after a week: how long does approval take for the Llama licence form?"


def test_phrasings_let_other_wordings_find_an_entry(tmp_path):
    """A question that shares no word with an entry's description finds the entry
    through one of its phrasings."""
    (tmp_path / "gated-wait.yaml").write_text(GATED)
    (tmp_path / "other-entry.yaml").write_text(OTHER)
    plain = KnownIssueMatcher(load_known_issues(tmp_path))
    assert plain.semantic_scores(ASKED).max() == 0.0
    (tmp_path / "gated-wait.yaml").write_text(
        GATED + "phrasings:\n  - how long does approval take, no email after a week\n")
    m = KnownIssueMatcher(load_known_issues(tmp_path))
    scores = m.semantic_scores(ASKED)
    assert m.issues[int(scores.argmax())].id == "gated-wait" and scores.max() > 0.3
    assert m.issues[int(m.semantic_scores("gpt2 batching: no pad token").argmax())].id == "other-entry"


def test_phrasings_with_vectors_take_the_best_text(tmp_path, fake_embedder):
    (tmp_path / "gated-wait.yaml").write_text(
        GATED + "phrasings:\n  - how long does approval take, no email after a week\n")
    (tmp_path / "other-entry.yaml").write_text(OTHER)
    m = KnownIssueMatcher(load_known_issues(tmp_path), fake_embedder)
    got = m.match(ASKED)
    assert got and got[0].issue.id == "gated-wait"


def test_bad_phrasings_are_reported_by_name(tmp_path):
    (tmp_path / "gated-wait.yaml").write_text(GATED + "phrasings: just one string\n")
    with pytest.raises(KnowledgeBaseError, match="gated-wait.yaml: phrasings"):
        load_known_issues(tmp_path)


TWIN = ("id: {id}\ntitle: Quantised loading fails on Windows\ncategory: Memory & Performance\n"
        "libraries: [{lib}]\n"
        "description: loading a model in 4-bit fails on Windows with a CUDA setup error\n"
        "cause: c\nfix: [upgrade]\nthreads: ['https://x/{id}']\nexample: e\n")


def test_an_entry_for_a_library_the_question_names_gains_the_boost(tmp_path, monkeypatch):
    """Two entries alike but for their library: the one the question names leads by
    exactly LIBRARY_BOOST; a question naming neither scores them alike."""
    import advisor.known_issues as ki

    (tmp_path / "bnb.yaml").write_text(TWIN.format(id="bnb", lib="bitsandbytes"))
    (tmp_path / "gptq.yaml").write_text(TWIN.format(id="gptq", lib="auto-gptq"))
    m = KnownIssueMatcher(load_known_issues(tmp_path))
    plain = m.semantic_scores("4-bit loading fails on Windows with a CUDA setup error")
    assert plain[0] == pytest.approx(plain[1])
    named = m.semantic_scores("bitsandbytes: 4-bit loading fails on Windows with a CUDA setup error")
    bnb, gptq = (m.issues.index(m.by_id(x)) for x in ("bnb", "gptq"))
    assert named[bnb] - named[gptq] == pytest.approx(ki.LIBRARY_BOOST) and ki.LIBRARY_BOOST > 0
    assert ki.named_libraries("I use auto_gptq and BitsAndBytes", m.libraries) == {"auto-gptq", "bitsandbytes"}
    monkeypatch.setattr(ki, "LIBRARY_BOOST", 0.0)
    again = m.semantic_scores("bitsandbytes: 4-bit loading fails on Windows with a CUDA setup error")
    assert again[bnb] == pytest.approx(again[gptq])


def test_with_no_match_the_best_loose_entry_stands_in(tmp_path, monkeypatch):
    """Under MIN_SEMANTIC_SCORE but over FALLBACK_SCORE, the best entry is shown alone as
    a loose match that does not steer the category; a clean match leaves no room for it,
    and under FALLBACK_SCORE nothing is shown."""
    import advisor.known_issues as ki

    (tmp_path / "gated-wait.yaml").write_text(GATED)
    (tmp_path / "other-entry.yaml").write_text(OTHER)
    m = KnownIssueMatcher(load_known_issues(tmp_path))
    asked = "the author of a gated repository has not answered my access request yet"
    best = float(m.semantic_scores(asked).max())
    monkeypatch.setattr(ki, "MIN_SEMANTIC_SCORE", best + 0.01)
    monkeypatch.setattr(ki, "FALLBACK_SCORE", best - 0.01)
    got = m.match(asked)
    assert [x.issue.id for x in got] == ["gated-wait"]
    assert got[0].loose and not got[0].steers and not got[0].strong
    monkeypatch.setattr(ki, "FALLBACK_SCORE", best + 0.005)
    assert m.match(asked) == []
    monkeypatch.setattr(ki, "MIN_SEMANTIC_SCORE", best - 0.01)
    clean = m.match(asked)
    assert clean and not clean[0].loose and clean[0].steers


SOLVED_TEXT = "After a week there is still no email: how long does approval take for the Llama licence form"


def test_a_solved_post_lets_its_wording_find_the_entry(tmp_path, fake_embedder, monkeypatch):
    """A question worded like a post the entry solved finds the entry through that post,
    and the match names the post's thread; a post of an unknown entry is left out. (The
    hashed fake vectors score lower than MiniLM's, so the thresholds are scaled down.)"""
    import advisor.known_issues as ki
    from advisor.kb_store import SolvedPost
    from advisor.known_issues import SOLVED_MIN, SOLVED_WEIGHT

    monkeypatch.setattr(ki, "MIN_SEMANTIC_SCORE", 0.15)
    monkeypatch.setattr(ki, "FALLBACK_SCORE", 0.12)

    (tmp_path / "gated-wait.yaml").write_text(GATED)
    (tmp_path / "other-entry.yaml").write_text(OTHER)
    issues = load_known_issues(tmp_path)
    asked = "how long does approval take for the Llama licence form, no email after a week?"
    plain = KnownIssueMatcher(issues, fake_embedder)
    assert plain.match(asked) == []
    solved = [SolvedPost("gated-wait", "https://solved/1", SOLVED_TEXT),
              SolvedPost("no-such-entry", "https://solved/2", asked)]
    m = KnownIssueMatcher(issues, fake_embedder, solved=solved)
    assert m._solved_urls == ["https://solved/1"]
    gated = m.issues.index(m.by_id("gated-wait"))
    q = fake_embedder.encode([asked])[0]
    near = float(fake_embedder.encode([SOLVED_TEXT])[0] @ q)
    assert near > SOLVED_MIN
    gain = m.semantic_scores(asked, q)[gated] - plain.semantic_scores(asked, q)[gated]
    assert gain == pytest.approx(SOLVED_WEIGHT * (near - SOLVED_MIN), abs=1e-5)
    got = m.match(asked, q)
    assert got[0].issue.id == "gated-wait" and not got[0].loose
    assert got[0].solved_url == "https://solved/1"
    monkeypatch.setattr(ki, "SOLVED_LINK_MIN", near + 0.01)  # votes, but too loosely alike to link
    again = m.match(asked, q)
    assert again[0].issue.id == "gated-wait" and again[0].solved_url == ""
    # a question unlike the post: no vote, no thread named
    other = m.match("gpt2 batching fails: the tokenizer has no pad token")
    assert other[0].issue.id == "other-entry" and other[0].solved_url == ""


def test_solved_posts_are_saved_with_the_vectors(issues, fake_embedder, tmp_path):
    """The build stores the solved posts' vectors and entries; the app reads them back
    without their texts and embeds nothing at load."""
    from advisor.kb_store import SolvedPost, load_solved_posts, load_vector_cache, save_vector_cache

    some = issues[:20]
    solved = [SolvedPost(some[0].id, "https://solved/1", "my own words about the first problem"),
              SolvedPost("no-such-entry", "https://solved/2", "dropped")]
    save_vector_cache(tmp_path, some, fake_embedder, solved=solved)
    back = load_solved_posts(tmp_path)
    assert [(p.entry, p.url, p.text) for p in back] == [(some[0].id, "https://solved/1", "")]
    before = fake_embedder.texts_seen
    m = KnownIssueMatcher(some, fake_embedder, cache=load_vector_cache(tmp_path), solved=back)
    assert fake_embedder.texts_seen == before and m._solved_vecs.shape == (1, 64)
    assert load_solved_posts(tmp_path / "missing") == []


def test_every_solved_post_names_an_existing_entry(issues):
    """The labelled training posts' ``known_issue`` ids are entries of the KB (a renamed
    or deleted entry would silently drop its posts' votes)."""
    from advisor.config import LABELLED_POSTS_FILE
    from advisor.kb_store import read_solved_posts

    posts = read_solved_posts(LABELLED_POSTS_FILE)
    assert len(posts) >= 400
    ids = {i.id for i in issues}
    assert sorted({p.entry for p in posts} - ids) == []
    assert all(p.url.startswith("https://") and p.text for p in posts)


def test_the_vote_lifts_an_entry_whose_phrasing_scores_best(tmp_path, fake_embedder):
    """The vote is added to the entry's best text: a phrasing that outscores the
    description does not swallow it."""
    from advisor.kb_store import SolvedPost
    from advisor.known_issues import SOLVED_MIN, SOLVED_WEIGHT

    asked = "how long does approval take for the Llama licence form, no email after a week?"
    (tmp_path / "gated-wait.yaml").write_text(GATED + f"phrasings:\n  - '{asked}'\n")
    (tmp_path / "other-entry.yaml").write_text(OTHER)
    issues = load_known_issues(tmp_path)
    plain = KnownIssueMatcher(issues, fake_embedder)
    voted = KnownIssueMatcher(issues, fake_embedder,
                              solved=[SolvedPost("gated-wait", "https://solved/1", SOLVED_TEXT)])
    q = fake_embedder.encode([asked])[0]
    near = float(fake_embedder.encode([SOLVED_TEXT])[0] @ q)
    j = plain.issues.index(plain.by_id("gated-wait"))
    assert plain.semantic_scores(asked, q)[j] > 0.9  # the phrasing is the question itself
    gain = voted.semantic_scores(asked, q)[j] - plain.semantic_scores(asked, q)[j]
    assert gain == pytest.approx(SOLVED_WEIGHT * (near - SOLVED_MIN), abs=1e-5)


@pytest.mark.parametrize("text, shown", [
    ("Whisper still hallucinates on silence", "hallucinates"),
    ("it says hallucinat. then stops", "hallucinat"),  # ends at a word's end already
    ("Warning: hallucinat", "hallucinat"),
])
def test_a_signature_match_is_shown_to_the_end_of_its_word(text, shown):
    import re

    from advisor.known_issues import KnownIssue

    k = KnownIssue(id="x", title="Whisper hallucinations", category="Other Issues",
                   subcategory="", description="Whisper invents text on silent audio",
                   cause="c", fix=("f",), signatures=(re.compile("hallucinat", re.I),))
    (m,) = KnownIssueMatcher([k]).signature_matches(text)
    assert m.matched == shown
