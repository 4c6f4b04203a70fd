"""advisor.compose: structure, ordering by question words, citations, escaping.

Invented guidance/threads/models (no corpus text) for the unit tests; one test composes
from the small real index (corpus slice, FakeEmbedder) to check real threads cite right.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest

from advisor.compose import compose, rank_by_question, safe_text, table_cell
from advisor.types import CategoryScore, Hit, ModelRecommendation, TaxonomyEntry, ThreadInfo


@dataclass
class FakeGuidance:  # same fields as advisor.guidance.Guidance
    category: str
    summary: str
    causes: list[str]
    steps: list[str]
    typical_questions: list[str] = field(default_factory=list)
    docs: list[tuple[str, str]] = field(default_factory=list)


GUIDE = {
    "Memory & Performance": FakeGuidance(
        category="Memory & Performance",
        summary="Running out of memory or being slow.",
        causes=["Downloads interrupted", "Batch size too large for the GPU", "Float32 weights"],
        steps=["Resume downloads", "Reduce the batch size", "Use bf16", "Use LoRA"],
        typical_questions=["CUDA out of memory while training"],
        docs=[("Efficient training", "https://huggingface.co/docs/transformers/perf_train_gpu_one")],
    )
}
INDEX = SimpleNamespace(
    taxonomy=[
        TaxonomyEntry("challenge", "Memory & Performance", "", "Issues with memory and speed.",
                      "an example", 12, 40),
        TaxonomyEntry("challenge", "Memory & Performance", "Memory", "Out of memory errors.",
                      "", None, 10),
    ],
    threads={
        7: ThreadInfo(7, "Beginners", ["GPU runs out of memory with batch 64"],
                      "https://discuss.huggingface.co/t/7",
                      root_cause={"root_cause": "batch too large"},
                      category="Memory & Performance", confidence=1.0,
                      label_source="root_causes"),
        8: ThreadInfo(8, "Intermediate", ["slow inference"], "https://discuss.huggingface.co/t/8",
                      category="Memory & Performance", confidence=0.61),
    },
)
HITS = [
    Hit(0, "thread:7#0", "thread:7", "thread", "Thread 7", "t7", "https://discuss.huggingface.co/t/7", 0.03),
    Hit(1, "thread:8#0", "thread:8", "thread", "Thread 8", "t8", "https://discuss.huggingface.co/t/8", 0.02),
    Hit(2, "model:evil/m#0", "model:evil/m", "model", "evil/m",
        "<script>alert(1)</script> ![x](http://evil/img.png) [click](http://evil) nice model",
        "https://huggingface.co/evil/m", 0.01),
]
CATS = [CategoryScore("Memory & Performance", "Memory", 0.81),
        CategoryScore("Training Pipeline", "", 0.1), CategoryScore("Spaces", "", 0.05)]


def _model(mid="acme/bert|base", warnings=None):
    return ModelRecommendation(
        model_id=mid, score=0.9, pipeline_tag="text-classification", library="transformers",
        downloads=1_234_567, likes=12, license="apache-2.0", license_family="oss",
        parameters=110_000_000, card_quality=0.75, missing_sections=[], source="2026",
        snippet='from transformers import pipeline\npipe = pipeline("text-classification")',
        warnings=warnings or ["thin card | no eval"], url="https://huggingface.co/acme/x",
    )


def _answer(*args, **kw):
    c = compose(*args, **kw)
    return c.markdown, c.citations


def test_challenge_answer_structure_and_citations():
    md, cites = _answer("CUDA out of memory: how do I reduce the batch size?",
                               CATS, False, HITS, [], GUIDE, INDEX)
    for heading in ("### What usually causes this", "### What to try",
                    "### Similar forum threads", "### Sources"):
        assert heading in md
    assert "**Challenge category:** Memory & Performance › Memory (confidence 81%)" in md
    assert "not sure" not in md
    kinds = {c.kind for c in cites}
    assert {"taxonomy", "thread", "guidance"} <= kinds
    urls = [c.url for c in cites]
    assert "https://discuss.huggingface.co/t/7" in urls and len(urls) == len(set(urls))
    for i, c in enumerate(cites, 1):  # the Sources list numbers every citation
        assert f"{i}. [" in md and c.url in md
    # each thread's label and where it comes from are said in Sources, not in the list
    listed, sources = md.split("### Similar forum threads")[1].split("### Sources")
    assert "label)" not in listed
    assert "slow inference](https://discuss.huggingface.co/t/8) (thread; Memory &amp; Performance, derived label)" in sources
    assert "t/7) (thread; Memory &amp; Performance, study label)" in sources  # cited first by its root cause
    assert [c.note for c in cites if c.kind == "thread"] == ["Memory & Performance, study label",
                                                             "Memory & Performance, derived label"]
    assert "batch too large" in md  # root cause of the accepted answer
    # threads are cited by a readable title (their first question code), not "Thread 7"
    assert "[GPU runs out of memory with batch 64](https://discuss.huggingface.co/t/7)" in md
    assert "Forum thread 7" not in md


def test_only_tips_that_match_the_question_are_shown():
    c = compose("my batch size is too large for the GPU", CATS, False, [], [], GUIDE, INDEX)
    assert c.causes[0] == "Batch size too large for the GPU"
    assert c.steps[0] == "Reduce the batch size"
    assert "Use LoRA" not in c.steps and "Downloads interrupted" not in c.causes
    # ties keep the guidance order
    assert rank_by_question(["a b", "c d", "e f"], {"zzz"}, 2) == ["a b", "c d"]


def test_unsure_names_top3_and_shows_no_generic_tips():
    md, _ = _answer("help with memory batch", CATS, True, [], [], GUIDE, INDEX)
    assert "not sure" in md
    assert "Memory & Performance (81%), Training Pipeline (10%), Spaces (5%)" in md
    assert "### What to try" not in md and "### What usually causes this" not in md


def test_no_category():
    md, cites = _answer("hello", [], False, [], [], GUIDE, INDEX)
    assert "no category" in md and cites == []


def test_known_issue_leads_and_replaces_generic_tips():
    from advisor.known_issues import KnownIssue, KnownIssueMatch

    k = KnownIssue(id="pad", title="Set a pad token", category="Training Pipeline",
                   subcategory="Tokenization", description="d", cause="GPT-2 has no pad token.",
                   fix=("Set tokenizer.pad_token = tokenizer.eos_token",), snippet="tok.pad_token = tok.eos_token",
                   docs="https://huggingface.co/docs/x", threads=("https://github.com/a/b/issues/1",))
    md, cites = _answer("batch size memory", CATS, False, HITS, [], GUIDE, INDEX,
                               known=[KnownIssueMatch(k, 1.0, "signature", "no padding token")])
    assert md.startswith("### Likely fix: Set a pad token")
    assert "GPT-2 has no pad token." in md and "tok.pad_token = tok.eos_token" in md
    assert "### What to try" not in md  # the specific fix replaces the category's tips
    assert {"docs", "known_issue"} <= {c.kind for c in cites}
    assert md.index("### Likely fix") < md.index("**Challenge category:**")
    assert "a similar case" not in md
    # a match found through a solved post like the question cites that post's thread too
    like = "https://github.com/c/d/issues/2"
    md2, cites2 = _answer("batch size memory", CATS, False, HITS, [], GUIDE, INDEX,
                          known=[KnownIssueMatch(k, 0.5, "semantic", solved_url=like)])
    assert f"[a similar case]({like})" in md2
    assert like in [c.url for c in cites2 if c.kind == "known_issue"]
    same, _ = _answer("batch size memory", CATS, False, HITS, [], GUIDE, INDEX,
                      known=[KnownIssueMatch(k, 0.5, "semantic", solved_url=k.threads[0])])
    assert "a similar case" not in same  # the entry's own thread is not cited twice


def test_a_doubtful_known_issue_is_hedged_with_its_not_when():
    from advisor.known_issues import KnownIssue, KnownIssueMatch

    k = KnownIssue(id="pad", title="Set a pad token", category="Training Pipeline",
                   subcategory="Tokenization", description="d", cause="GPT-2 has no pad token.",
                   fix=("Set tokenizer.pad_token = tokenizer.eos_token",),
                   applies_when="the tokenizer has no pad token",
                   not_when="a pad token is already set")
    md, _ = _answer("batch size memory", CATS, False, HITS, [], GUIDE, INDEX,
                    known=[KnownIssueMatch(k, 0.5, "semantic", premise_doubt=True)])
    assert md.startswith("### Possibly related known issue: Set a pad token")
    assert "_Not your case if a pad token is already set._" in md
    clean, _ = _answer("batch size memory", CATS, False, HITS, [], GUIDE, INDEX,
                       known=[KnownIssueMatch(k, 0.5, "semantic")])
    assert clean.startswith("### Likely fix") and "Not your case" not in clean
    loose, _ = _answer("batch size memory", CATS, False, HITS, [], GUIDE, INDEX,
                       known=[KnownIssueMatch(k, 0.26, "semantic", loose=True)])
    assert loose.startswith("### Possibly related known issue (loose match): Set a pad token")
    assert "_Not your case if a pad token is already set._" in loose
    with_code = dataclasses.replace(k, snippet="tok.pad_token = tok.eos_token")
    shown, _ = _answer("batch size memory", CATS, False, HITS, [], GUIDE, INDEX,
                       known=[KnownIssueMatch(with_code, 0.5, "semantic")])
    hedged, _ = _answer("batch size memory", CATS, False, HITS, [], GUIDE, INDEX,
                        known=[KnownIssueMatch(with_code, 0.26, "semantic", loose=True)])
    assert "tok.pad_token = tok.eos_token" in shown and "tok.pad_token" not in hedged


def test_model_table_escapes_cells_and_cites_models():
    md, cites = _answer("which model for sentiment?", CATS, False, HITS, [_model()],
                               GUIDE, INDEX, intent="recommend")
    assert md.index("### Recommended models") < md.index("**Challenge category:**")
    row = next(line for line in md.splitlines() if line.startswith("| 1 |"))
    assert row.count("|") - row.count("\\|") == 10  # 9 columns, pipes in cells escaped
    assert "acme/bert\\|base" in row and "thin card \\| no eval" in row
    assert "1.23M" in row and "110M" in row and "apache-2.0" in row and "75%" in row
    assert "```python" in md
    assert any(c.kind == "model" and c.id == "acme/bert|base" for c in cites)


def test_model_table_names_the_first_warnings_by_label():
    warnings = ["Tagged fill-mask, not summarization: the task was inferred; check the card.",
                "Gated: accept the conditions on the model page and log in.",
                "Licence not stated: check the model page before commercial use.",
                "Card lacks evaluation: evaluate it on your data."]
    md, _ = _answer("which model for sentiment?", CATS, False, HITS,
                    [_model(warnings=warnings)], GUIDE, INDEX, intent="recommend")
    row = next(line for line in md.splitlines() if line.startswith("| 1 |"))
    assert "Tagged fill-mask, not summarization; Gated; Licence not stated" in row
    assert "Card lacks" not in row and "accept the conditions" not in row


def test_a_card_that_was_not_read_has_unknown_quality():
    unread = dataclasses.replace(_model(), card_read=False, card_quality=0.0)
    md, _ = _answer("which model for sentiment?", CATS, False, HITS, [unread], GUIDE, INDEX,
                    intent="recommend")
    row = next(line for line in md.splitlines() if line.startswith("| 1 |"))
    cells = [c.strip() for c in row.split(" | ")]
    assert cells[7] == "?" and "0%" not in row


def test_forum_struggles_are_not_repeated_across_models():
    same = "People struggled with bert: a code (https://discuss.huggingface.co/t/1)"
    models = [dataclasses.replace(_model(m), thread_mentions=[same]) for m in ("a/x", "a/y")]
    md, _ = _answer("which model for sentiment?", CATS, False, HITS, models, GUIDE, INDEX,
                    intent="recommend")
    line = next(x for x in md.splitlines() if x.startswith("What people struggled with"))
    assert line.count("People struggled with bert") == 1


def test_models_suggested_for_similar_solved_requests_cite_their_thread():
    url = "https://github.com/acme/repo/issues/7"
    liked = dataclasses.replace(_model("acme/liked"), solved_like=url)
    md, cites = _answer("which model for sentiment?", CATS, False, HITS,
                        [_model(), liked], GUIDE, INDEX, intent="recommend")
    line = next(x for x in md.splitlines() if x.startswith("Suggested in answers to similar"))
    assert "acme/liked" in line and f"]({url})" in line and "acme/bert" not in line
    assert any(c.kind == "solved_request" and c.url == url for c in cites)
    same = dataclasses.replace(_model("acme/also"), solved_like=url)
    md2, _ = _answer("which model for sentiment?", CATS, False, HITS, [liked, same],
                     GUIDE, INDEX, intent="recommend")
    line2 = next(x for x in md2.splitlines() if x.startswith("Suggested in answers to similar"))
    assert "acme/liked and acme/also" in line2 and line2.count("[thread]") == 1
    plain, _ = _answer("which model for sentiment?", CATS, False, HITS, [_model()],
                       GUIDE, INDEX, intent="recommend")
    assert "Suggested in answers to similar" not in plain


def test_recommend_without_models_says_so():
    md, _ = _answer("which model?", CATS, False, [], [], GUIDE, INDEX, intent="recommend")
    assert "No known model fits" in md


def test_retrieved_text_is_neutralised():
    hostile = "<script>alert(1)</script> ![x](http://evil/img.png) [click](http://evil) oom"
    index = SimpleNamespace(taxonomy=INDEX.taxonomy, threads={
        9: ThreadInfo(9, "Beginners", [hostile], "https://discuss.huggingface.co/t/9")})
    hits = [Hit(0, "thread:9#0", "thread:9", "thread", "Thread 9", hostile,
                "https://discuss.huggingface.co/t/9", 0.03)]
    md, _ = _answer("memory", CATS, False, hits, [], GUIDE, index)
    assert "<script>" not in md and "&lt;script&gt;" in md
    assert "http://evil" not in md
    assert "click" in md  # link text kept, target dropped


def test_thread_titles_are_escaped_once_in_the_answer_and_the_sources():
    """A coded title with '>', '&' and brackets reads the same in the thread list and the
    Sources list (escaped once), and the citation keeps the plain title for API clients."""
    raw = "Uploading files (> 5GB) & [large] models"
    index = SimpleNamespace(taxonomy=INDEX.taxonomy, threads={
        9: ThreadInfo(9, "Beginners", [raw], "https://discuss.huggingface.co/t/9",
                      root_cause={"root_cause": "limit on upload time"},
                      category="Memory & Performance", confidence=1.0,
                      label_source="root_causes")})
    hits = [Hit(0, "thread:9#0", "thread:9", "thread", "Thread 9", "t9",
                "https://discuss.huggingface.co/t/9", 0.03)]
    md, cites = _answer("memory batch size", CATS, False, hits, [], GUIDE, index)
    once = safe_text(raw, 110)
    assert md.count(f"[{once}](https://discuss.huggingface.co/t/9)") >= 2  # list + sources
    assert "&amp;gt;" not in md and "&amp;amp;" not in md and "\\\\[" not in md
    assert [c.title for c in cites if c.kind == "thread"] == [raw]
    # a long title is cut short in the list and kept longer in the Sources list
    from advisor.compose import SOURCE_TITLE_CHARS, THREAD_TITLE_CHARS
    long = "Why does my made-up example title keep going on well past sixty characters here"
    index.threads[9] = dataclasses.replace(index.threads[9], codes=[long])
    md, cites = _answer("memory batch size", CATS, False, hits, [], GUIDE, index)
    listed = md.split("### Sources")[0]
    assert f"[{safe_text(long, THREAD_TITLE_CHARS)}](https://discuss.huggingface.co/t/9)" in listed
    assert len(safe_text(long, THREAD_TITLE_CHARS)) <= THREAD_TITLE_CHARS + 1 < len(long)
    assert f"[{safe_text(long, SOURCE_TITLE_CHARS)}](https://discuss.huggingface.co/t/9)" in md.split("### Sources")[1]


def test_notes_shown_first():
    md, _ = _answer("memory", CATS, False, [], [], GUIDE, INDEX,
                           notes=["LLM timed out; offline answer"])
    assert md.startswith("> _LLM timed out; offline answer_")


@pytest.mark.parametrize("text, forbidden", [
    ("a | b", " | "), ("<b>x</b>", "<b>"), ("[t](http://x)", "http://x"),
    ("![i](http://x.png)", "http://x.png"), ("**bold**", "**"),
])
def test_safe_text_and_cells(text, forbidden):
    assert forbidden not in table_cell(text)
    assert forbidden not in safe_text(text) or forbidden == " | "


@pytest.mark.parametrize("code", [
    "out[0][inputs['input_ids'].shape[1]:]", 'res[0]["generated_text"][-1]["content"]',
    "x = f[0](y)", 'ds[0]["audio"]["array"]',
])
def test_safe_text_keeps_code_indexing_that_looks_like_a_link(code):
    """Subscripts after a name or bracket are code, not links: every character stays
    (escaped), where a link after a space still loses its target."""
    shown = safe_text(f"Slice it: {code}", 300)
    assert shown.replace("\\", "") == f"Slice it: {code}".replace("\\", "")
    assert safe_text("see [the paper][1] or [docs](https://x.y/z)", 300) == "see the paper or docs"


@pytest.mark.parametrize("prose, shown", [
    ("Pass max_new_tokens=256 to generate()", "Pass `max_new_tokens=256` to `generate()`"),
    ("repeat it (loss.repeat(batch_size)) before gather_for_metrics(...).",
     "repeat it (`loss.repeat(batch_size)`) before `gather_for_metrics(...)`."),
    ("slice it: out[0][inputs['input_ids'].shape[1]:]",
     "slice it: `out[0][inputs['input_ids'].shape[1]:]`"),
    ("run TGI with --usage-stats=off, or `hf auth login` first",
     "run TGI with `--usage-stats=off`, or `hf auth login` first"),
    ("padding_side='left'.", "`padding_side='left'`."),
    ("the model(s), e.g. v4.40.0 of transformers.utils.logging",
     "the model(s), e.g. v4.40.0 of `transformers.utils.logging`"),
    # what is not code is escaped as by safe_text: markup stays inert
    ("**bold** <b>x</b> [docs](http://x) a*b", "\\*\\*bold\\*\\* &lt;b&gt;x&lt;/b&gt; docs a\\*b"),
    ("see https://huggingface.co/docs_x", "see https://huggingface.co/docs\\_x"),
    ("no <tag_x> inside code", "no &lt;tag\\_x&gt; inside code"),
])
def test_safe_prose_shows_code_words_as_inline_code(prose, shown):
    from advisor.markdown_safe import safe_prose

    assert safe_prose(prose, 300) == shown


def test_inline_code_shows_the_users_text_literally():
    from advisor.markdown_safe import inline_code

    assert inline_code("Target modules ['q_proj'] not found") == "`Target modules ['q_proj'] not found`"
    assert inline_code("use `x` here") == "``use `x` here``"  # a longer fence keeps the span whole
    assert inline_code("`x`") == "`` `x` ``"
    assert inline_code("a  \n b") == "`a b`" and inline_code("") == ""
    assert inline_code("x" * 50, 10) == "`" + "x" * 9 + "…`"


def test_deterministic():
    a = _answer("CUDA memory", CATS, False, HITS, [_model()], GUIDE, INDEX)
    b = _answer("CUDA memory", CATS, False, HITS, [_model()], GUIDE, INDEX)
    assert a == b


def test_on_small_real_index(small_index):
    """Threads retrieved from the real slice cite their forum URL and show their codes."""
    from advisor.retrieval import HybridRetriever

    hits = HybridRetriever(small_index).search("out of memory GPU training", k=8, kinds=["thread"])
    assert hits
    md, cites = _answer("out of memory GPU training", CATS, False, hits, [], GUIDE,
                               small_index)
    thread_cites = [c for c in cites if c.kind == "thread"]
    assert thread_cites
    for c in thread_cites:
        assert c.url == f"https://discuss.huggingface.co/t/{c.id}"
        assert int(c.id) in small_index.threads


def test_category_line_cites_the_deciding_posts_without_quoting_them():
    """The deciding words are named; the similar labelled posts are counted and cited
    (their words are another asker's, not advice), a post without a URL only counted."""
    cats = [CategoryScore("Memory & Performance", "Memory", 0.81, evidence=[
        'the words "oom", "batch"', 'a similar labelled question, "OOM at batch 64" (https://x/1)',
        'a similar labelled question, "memory (again) at batch 8"'])]
    md, cites = _answer("I get CUDA out of memory", cats, False, HITS, [], GUIDE, INDEX)
    line = next(x for x in md.splitlines() if x.startswith("**Challenge category:**"))
    post = next(i for i, c in enumerate(cites, 1) if c.kind == "labelled_post")
    assert line.endswith(f'Decided by: the words "oom", "batch"; 2 similar labelled questions [{post}].')
    assert cites[post - 1].url == "https://x/1" and "OOM at batch 64" not in md
    assert cites[post - 1].title == "A similar question labelled Memory & Performance › Memory"


def test_entries_next_in_order_are_listed_in_one_line_each_the_first_with_its_step():
    from advisor.known_issues import KnownIssue, KnownIssueMatch

    def entry(i, docs=""):
        return KnownIssue(id=f"e{i}", title=f"Entry {i}", category="Training Pipeline",
                          subcategory="", description="d", cause=f"Cause {i}. More of it.",
                          fix=(f"Step one of {i}. Then more.", f"Step two of {i}"), docs=docs)

    lead = KnownIssueMatch(entry(0), 0.5, "semantic")
    also = [KnownIssueMatch(entry(1, "https://huggingface.co/docs/one"), 0.3, "semantic"),
            KnownIssueMatch(entry(2), 0.2, "semantic")]
    md, cites = _answer("batch size memory", CATS, False, HITS, [], GUIDE, INDEX,
                        known=[lead], also=also)
    n = next(i for i, c in enumerate(cites, 1) if c.url == "https://huggingface.co/docs/one")
    section = md[md.index("### If that is not it, also check"):md.index("**Challenge category:**")]
    assert section.strip().splitlines()[1:] == [
        f"- **Entry 1**: Step one of 1. [{n}]", "- Entry 2"]
    assert md.index("### Likely fix: Entry 0") < md.index("### If that is not it")
    assert "Cause 1" not in md and "Step two of 1" not in md and "Step one of 2" not in md
    plain, _ = _answer("batch size memory", CATS, False, HITS, [], GUIDE, INDEX, known=[lead])
    assert "If that is not it" not in plain


@pytest.mark.parametrize("step, first", [
    ("Pin it. Then rebuild.", "Pin it."),
    ("Train the model (e.g. with Trainer) first. Then push.", "Train the model (e.g. with Trainer) first."),
    ("Use i.e. the base model, etc. and vs. the tuned one", "Use i.e. the base model, etc. and vs. the tuned one"),
    ("Set max_length=512. `truncation=True` too.", "Set `max_length=512`."),
])
def test_a_listed_step_is_cut_at_its_first_sentence_not_at_an_abbreviation(step, first):
    from advisor.fix_sections import _first_sentence

    assert _first_sentence(step, 500) == first


def test_references_to_other_entries_ids_are_not_shown_to_readers():
    from advisor.fix_sections import _entry_ids, reader_text
    from advisor.known_issues import KnownIssue, KnownIssueMatch

    a, b = sorted(_entry_ids())[:2]  # two real entry file names
    assert reader_text(f"Not when it fails at load (see {a}).") == "Not when it fails at load."
    assert reader_text(f"Training OOM (see {a} / {b}) or eval") == "Training OOM or eval"
    assert reader_text(f"a 403 ({a}), or a 401, see {b}") == "a 403, or a 401"
    # a bare parenthesis goes only when each word in it is an entry's id
    assert reader_text("billed (pay-as-you-go) per call") == "billed (pay-as-you-go) per call"
    assert reader_text("a cased model (e.g. bert-base-cased)") == "a cased model (e.g. bert-base-cased)"
    k = KnownIssue(id="x", title="Eval OOM", category="Training Pipeline", subcategory="",
                   description="d", cause=f"Logits pile up (see {a}).",
                   fix=(f"Shrink logits first, see {b}", "Use fewer examples"),
                   not_when=f"the OOM is in training ({a})", applies_when="evaluation")
    md, _ = _answer("eval memory", CATS, False, HITS, [], GUIDE, INDEX,
                    known=[KnownIssueMatch(k, 0.3, "semantic", premise_doubt=True)])
    assert a not in md and b not in md
    assert "Logits pile up." in md and "1. Shrink logits first" in md
    assert "_Not your case if the OOM is in training._" in md
    # the LLM backend's facts read the same texts
    c = compose("eval memory", CATS, False, HITS, [], GUIDE, INDEX,
                known=[KnownIssueMatch(k, 0.3, "semantic", premise_doubt=True)])
    assert c.causes == ["Logits pile up."]
    assert c.steps == ["Shrink logits first", "Use fewer examples"]
