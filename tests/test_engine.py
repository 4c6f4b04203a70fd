"""advisor.engine on the small real index (corpus slice, FakeEmbedder).

Covers intents, follow-ups, validation, rate limiting, one embedding per question,
streaming, lazy thread-safe loading and the LLM fallback (a stub backend and the real
OpenAI-compatible backend against the local test server from test_llm).
"""

from __future__ import annotations

import threading
from itertools import islice
from pathlib import Path

import pytest

from advisor.config import Config
from advisor.engine import Advisor
from advisor.errors import InvalidInputError, LLMBackendError, RateLimitError
from advisor.eval import read_questions
from advisor.index import AdvisorIndex
from advisor.memo import MemoEmbedder
from advisor.request import detect_intent, resolve_follow_up
from advisor.taxonomy import CHALLENGE_CATEGORIES
from tests.conftest import FakeEmbedder, small_index_config

OOM = "CUDA out of memory when I fine-tune bert with a batch size of 64. How do I fix it?"
PICK = "Which model should I use for sentiment analysis of english product reviews?"


@pytest.fixture
def advisor(small_index):
    return Advisor(small_index_config(small_index.index_dir), index=small_index)


def test_challenge_question(advisor):
    a = advisor.advise(OOM)
    assert a.intent == "challenge" and a.backend == "offline"
    assert 1 <= len(a.categories) <= 3
    assert all(c.category in CHALLENGE_CATEGORIES for c in a.categories)
    assert a.confidence == a.categories[0].score
    assert a.citations and "### Sources" in a.answer
    for c in a.citations:
        assert c.url in a.answer
    assert any(c.kind == "thread" for c in a.citations)
    assert a.latency_ms > 0
    d = a.to_dict()
    assert "hits" not in d and d["question"] == OOM


def test_model_choice_question_recommends(advisor):
    a = advisor.advise(PICK)
    assert a.intent == "recommend"
    assert a.models, "the small index holds text-classification models"
    assert "| # | Model |" in a.answer
    model_cites = {c.id for c in a.citations if c.kind == "model"}
    assert {m.model_id for m in a.models} <= model_cites


class _FixedIntent:
    threshold = 0.5

    def __init__(self, prob: float):
        self.prob = prob

    def proba(self, text, qvec) -> float:
        return self.prob


@pytest.mark.parametrize("prob, task_conf, want", [
    (0.6, 0.0, "recommend"),   # over the threshold: the task model is not asked
    (0.35, 0.9, "recommend"),  # borderline, and a task is read confidently
    (0.35, 0.5, "challenge"),  # borderline, task unsure
    (0.2, 0.99, "challenge"),  # below the borderline: never
])
def test_borderline_intent_needs_a_confident_task(advisor, monkeypatch, prob, task_conf, want):
    import dataclasses

    from advisor.intent import BORDERLINE, BORDERLINE_TASK_CONFIDENCE

    assert BORDERLINE < 0.5 and 0.5 < BORDERLINE_TASK_CONFIDENCE <= 1.0
    monkeypatch.setattr(advisor.parts, "intent_model", _FixedIntent(prob))
    rec = advisor.parts.recommender
    real = rec.build_request
    asked = []

    def build_request(text, filters=None, qvec=None):
        req, source = real(text, filters, qvec)
        asked.append(text)
        return dataclasses.replace(req, task_confidence=task_conf), source

    monkeypatch.setattr(rec, "build_request", build_request)
    q = "My English review classifier works; would it also handle Italian reviews?"
    qvec = advisor.parts.embedder.encode([q])[0]
    assert advisor.detect_intent(q, qvec) == want
    assert bool(asked) == (BORDERLINE <= prob < 0.5)
    if want == "recommend":
        assert advisor.advise(q).models


def test_follow_up_reuses_previous_request(advisor):
    hist = [{"role": "user", "content": PICK}, {"role": "assistant", "content": "..."}]
    a = advisor.advise("and a smaller one?", history=hist)
    assert a.intent == "recommend"
    assert any("Follow-up" in n for n in a.notes)
    assert a.models
    alone = advisor.advise("and a smaller one?")
    assert alone.intent != "recommend" or not any("Follow-up" in n for n in alone.notes)


def test_resolve_follow_up_adds_size_cue():
    text, note = resolve_follow_up("and a smaller one?", [(PICK, "answer")])
    assert text.startswith(PICK) and text.endswith("small") and note
    assert resolve_follow_up(OOM, [(PICK, "a")]) == (OOM, None)


@pytest.mark.parametrize("q, intent", [
    (PICK, "recommend"),
    ("is there a model to translate english to german?", "recommend"),
    ("recommend me something for NER", "recommend"),
    (OOM, "challenge"),
    ("how do I load a model from a local folder?", "challenge"),
    ("Traceback (most recent call last):\n  File \"a.py\", line 1\nKeyError: 'x'", "explain"),
    ("I get [{'label': 'LABEL_1', 'score': 0.98}] what does LABEL_1 mean in this output?", "explain"),
    # seeking phrasings without the word "model", counted only when a task is named
    ("need something that spots bikes in photos and draws boxes around them", "recommend"),
    ("can a model read my excel sheet and answer questions about the numbers?", "recommend"),
    ("how do i detect the language of a tweet? about 30 languages", "recommend"),
    ("i want to do something cool with hugging face", "challenge"),
    # questions about models that are not a model choice
    ("what should I put in my model card before publishing?", "challenge"),
    ("what is the difference between a tokenizer and a model?", "challenge"),
])
def test_detect_intent(q, intent):
    assert detect_intent(q) == intent


@pytest.mark.parametrize("bad", ["", "   \n\t", "\x00\x01"])
def test_empty_question_refused(advisor, bad):
    with pytest.raises(InvalidInputError, match="Please type a question"):
        advisor.advise(bad)


def test_too_long_question_refused(advisor):
    with pytest.raises(InvalidInputError, match="limit is 4,000"):
        advisor.advise("why " * 2000)


def test_bad_filters_refused(advisor):
    with pytest.raises(InvalidInputError, match="max_parameters"):
        advisor.advise(PICK, filters={"max_parameters": "lots"})


def test_rate_limit_per_session(small_index):
    cfg = small_index_config(small_index.index_dir).replace(rate_limit_per_min=2)
    adv = Advisor(cfg, index=small_index)
    adv.advise(OOM, session="s1")
    adv.advise(OOM, session="s1")
    with pytest.raises(RateLimitError, match="retry in"):
        adv.advise(OOM, session="s1")
    adv.advise(OOM, session="s2")  # other sessions unaffected


class CountingEmbedder(FakeEmbedder):
    def __init__(self):
        super().__init__()
        self.seen: list[str] = []

    def encode(self, texts, batch_size=64):
        self.seen.extend(texts)
        return super().encode(texts, batch_size)


def test_question_embedded_once(small_index_dir):
    emb = CountingEmbedder()
    cfg = small_index_config(small_index_dir)
    idx = AdvisorIndex.load(cfg, embedder=MemoEmbedder(emb))
    adv = Advisor(cfg, index=idx)
    adv.advise(OOM)
    assert emb.seen.count(OOM) == 1


def test_offline_stream_is_one_complete_update(advisor):
    out = list(advisor.stream(OOM))
    assert len(out) == 1  # the offline answer is complete at once: no partial updates
    final_md, final = out[-1]
    assert final is not None and final.answer == final_md
    assert final_md == advisor.advise(OOM).answer  # deterministic


def test_lazy_load_once_thread_safe(small_index_dir, monkeypatch):
    calls = []
    real = AdvisorIndex.load

    def counting_load(cfg, embedder=None):
        calls.append(1)
        return real(cfg, embedder=embedder)

    monkeypatch.setattr(AdvisorIndex, "load", staticmethod(counting_load))
    adv = Advisor(small_index_config(small_index_dir), embedder=FakeEmbedder())
    errors = []

    def ask():
        try:
            adv.advise(OOM)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(calls) == 1


class FailingLLM:
    name = "stub"

    def __init__(self, after: int):
        self.after = after
        self.messages = None

    def stream(self, messages):
        self.messages = messages
        for i in range(self.after):
            yield f"piece{i} "
        raise LLMBackendError("The stub LLM backend failed: stream cut. Showing the offline answer instead.")


def test_llm_failure_mid_stream_falls_back(small_index):
    llm = FailingLLM(after=2)
    adv = Advisor(small_index_config(small_index.index_dir), index=small_index, llm=llm)
    out = list(adv.stream(OOM))
    assert out[0][0] == "piece0 "  # the LLM streamed first
    final = out[-1][1]
    assert final.backend == "offline"
    assert any("stream cut" in n for n in final.notes)
    assert "stream cut" in final.answer and "### Sources" in final.answer
    assert "<evidence>" in llm.messages[-1]["content"]


def test_llm_success_via_openai_server(small_index, monkeypatch):
    from tests.test_llm import PIECES, ChatServer

    server = ChatServer()
    try:
        cfg = small_index_config(small_index.index_dir).replace(
            llm_backend="openai", llm_base_url=server.url, llm_model="m", llm_timeout=2.0,
            hf_token="hf_secretSECRETsecret123")
        adv = Advisor(cfg, index=small_index)
        a = adv.advise(OOM)
        assert a.backend == "openai"
        assert a.answer.startswith("".join(PIECES))
        assert "### Sources" in a.answer  # citations kept under the LLM text
        sent = server.requests[-1]["messages"][-1]["content"]
        assert "Memory & Performance" in sent or a.categories[0].category in sent
        server.mode = "500"
        b = adv.advise(OOM)
        assert b.backend == "offline" and any("HTTP 500" in n for n in b.notes)
        assert "HTTP 500" in b.answer
        assert "hf_secretSECRETsecret123" not in b.answer + " ".join(b.notes)
    finally:
        server.close()


def test_misconfigured_llm_is_noted_not_fatal(small_index):
    cfg = small_index_config(small_index.index_dir).replace(llm_backend="openai")
    a = Advisor(cfg, index=small_index).advise(OOM)
    assert a.backend == "offline" and any("ADVISOR_LLM_BASE_URL" in n for n in a.notes)


def test_explain_and_recommend_delegate(advisor):
    recs = advisor.recommend("sentiment of english reviews", k=3)
    assert 1 <= len(recs) <= 3
    exp = advisor.explain_output("[{'label': 'LABEL_1', 'score': 0.98}]")
    assert exp.answer
    with pytest.raises(InvalidInputError):
        advisor.explain_output("   ")


def test_config_default_is_offline():
    assert Config().llm_backend == "offline"


def test_a_part_that_cannot_load_is_reported_not_swallowed(small_index, monkeypatch, caplog):
    """Missing or refused files: the answer degrades, the note reaches the app's status
    line and the log. Anything else is a bug: loading fails loudly."""
    import advisor.engine as engine_mod
    from advisor.app.lifecycle import EngineHolder
    from advisor.errors import KnowledgeBaseError

    def missing(*_):
        raise FileNotFoundError("recommender.npz is missing")

    def refused(*_):
        raise KnowledgeBaseError("prompts/known_issues/x.yaml: not valid YAML")

    monkeypatch.setattr(engine_mod, "_load_recommender", missing)
    monkeypatch.setattr(engine_mod, "_load_known_issues", refused)
    cfg = small_index_config(small_index.index_dir)
    adv = Advisor(cfg, index=small_index)
    assert adv.advise(OOM).citations  # still answers
    notes = adv.load_notes
    assert any("Model recommender not loaded" in n and "missing" in n for n in notes)
    assert any("Known-issues knowledge base not loaded" in n for n in notes)
    assert "Model recommender not loaded" in caplog.text
    holder = EngineHolder(cfg, factory=lambda c: adv).start()
    assert holder.wait(10)
    assert "Model recommender not loaded" in holder.status_markdown()

    def bug(*_):
        raise TypeError("a bug in the explainer")

    monkeypatch.setattr(engine_mod, "_load_explainer", bug)
    with pytest.raises(TypeError, match="a bug"):
        Advisor(cfg, index=small_index).parts  # noqa: B018


def test_a_paste_with_no_known_pattern_does_not_lead_the_answer(advisor):
    """Words like "logits" make it an explain request; when the explainer recognises
    nothing specific, its "no known pattern" text is not put in front of the answer."""
    q = "Why are my eval logits accumulated by the Trainer until memory runs out? nan"
    a = advisor.advise(q)
    assert a.intent == "explain" and a.explanation is not None
    assert "No known pattern recognised" not in a.answer
    recognised = advisor.advise("My sentiment pipeline prints [{'label': 'LABEL_1', 'score': 0.98}] "
                                "for every review I pass in")
    assert recognised.intent == "explain" and recognised.explanation is not None
    at = recognised.answer.find(recognised.explanation.answer.strip()[:40])
    assert at >= 0  # a recognised output is explained; a known issue's specific fix goes first
    assert not recognised.known_issues or recognised.answer.lstrip().startswith("### Likely fix")


def test_memo_caches_large_batches_only_when_asked():
    """Builds and the KB load pass big batches through uncached; a cross-validation that
    re-embeds the same training texts per fold raises max_batch and embeds each once."""
    from advisor.memo import MEMO_MAX_BATCH

    texts = [f"training text number {i}" for i in range(MEMO_MAX_BATCH + 4)]
    default = MemoEmbedder(FakeEmbedder())
    default.encode(texts)
    default.encode(texts)
    assert default.inner.texts_seen == 2 * len(texts)
    wide = MemoEmbedder(FakeEmbedder(), size=1000, max_batch=1000)
    first = wide.encode(texts)
    again = wide.encode(list(reversed(texts)))
    assert wide.inner.texts_seen == len(texts)
    assert (again[::-1] == first).all()


def test_a_model_request_with_a_known_error_leads_with_the_fix(advisor):
    """A model request carries only strong known-issue matches (a pasted error, a clear
    match by meaning), placed ahead of the models; a plain request carries none."""
    plain = advisor.advise(PICK)
    assert plain.intent == "recommend" and not plain.known_issues
    # (the small index's hash embedder reads intent from word n-grams: "during training"
    # after the error tips this request to a challenge there; MiniLM keeps it a request)
    q = PICK + " My current classifier fails with RuntimeError: CUDA error: device-side assert triggered."
    a = advisor.advise(q)
    assert a.intent == "recommend" and a.models and a.known_issues
    assert a.answer.index("### Likely fix") < a.answer.index("### Recommended models")
    assert not plain.also_check and not a.also_check  # a request lists no other entries


def test_a_challenge_lists_the_next_entries_after_its_fix(advisor):
    """A question the KB matches leads with the fix and lists the next entries in one
    line each, before the category. (The small index's hash embedder scores few entries
    over the floor, so the questions are entries' own descriptions: the KB's words.)"""
    from advisor.known_issues import load_known_issues

    listed = 0
    for issue in load_known_issues()[:20]:
        a = advisor.advise(issue.description)
        assert not set(a.known_issues) & set(a.also_check)
        if a.intent == "recommend" or not a.also_check:
            continue
        listed += 1
        assert a.known_issues
        at = a.answer.index("### If that is not it, also check")
        assert at < a.answer.index("**Challenge category:**")
        lines = a.answer[at:].split("\n\n")[0].splitlines()[1:]
        # the first listed entry with its step (bold title), the others by title
        assert len(lines) == len(a.also_check) and lines[0].startswith("- **")
        assert all(x.startswith("- ") and not x.startswith("- **") for x in lines[1:])
    assert listed >= 3


@pytest.mark.parametrize("level", ["shipped", 0.0])
def test_only_a_matched_error_text_is_headed_likely_fix(advisor, monkeypatch, level):
    """As shipped, an answer heads a known issue "Likely fix" only when the entry's
    signature matched the question's text; with a confidence level set (0.0: every match
    by meaning that may steer), matches by meaning are headed so too."""
    if level != "shipped":
        monkeypatch.setattr("advisor.kb_rank.STRONG_CONFIDENCE", level)
    rows = Path(__file__).resolve().parents[1] / "eval" / "real_questions.jsonl"
    questions = [q.question for q in read_questions(rows, [])][:40]
    likely = by_meaning = 0
    for q in questions:
        for block in advisor.advise(q).answer.split("\n### "):
            if block.lstrip("# ").startswith("Likely fix"):
                likely += 1
                by_meaning += "Your text matches" not in block.split("\n**Why:**")[0]
    if level == "shipped":
        assert by_meaning == 0
    else:
        assert by_meaning > 0 and likely > by_meaning


def test_an_error_line_with_several_causes_is_not_called_the_likely_fix(advisor):
    """The small index carries the signature record of the real labelled posts; a post
    whose text fires an entry's signature that fired mostly on other problems is
    answered with that entry "possibly related", saying why, never "Likely fix"."""
    from advisor.config import LABELLED_POSTS_FILE
    from advisor.kb_rank import signature_likely
    from advisor.kb_store import load_signature_record, read_kb_labelled_posts

    record = load_signature_record(advisor.index.index_dir)
    doubted = {k for k, c in record.items() if not signature_likely(*c)}
    assert len(record) > 100 and doubted
    kb = advisor.parts.known_issues
    posts = list(islice((t for _, t in read_kb_labelled_posts(LABELLED_POSTS_FILE)
                         if any(x.issue.id in doubted for x in kb.signature_matches(t))), 6))
    assert len(posts) == 6
    hedged = 0
    for text in posts:
        for block in advisor.advise(text).answer.split("\n### "):
            if "which also comes up with other problems" in block.split("\n**Why:**")[0]:
                assert block.lstrip("# ").startswith("Possibly related known issue")
                hedged += 1
    assert hedged >= 3
