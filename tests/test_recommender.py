"""Recommender on real corpus slices: language tiers, size limits, filters, ranking,
evidence, thread mentions; validate_model_id and the parameter estimate.

The slice is read at test time (never committed): 2022 cards of a few tasks with at
least ``MIN_DOWNLOADS`` downloads, plus the 2026 records of the same tasks, converted by
the builder's own source readers.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import math

import pytest

from advisor.errors import InvalidInputError, InvalidModelIdError
from advisor.modelfacts import (
    ModelFeatures,
    estimate_params,
    language_tier,
    model_families,
    validate_model_id,
)
from advisor.recommender import Recommender
from advisor.types import Hit, ModelInfo

SLICE_TASKS = {"text-classification", "token-classification", "text-generation",
               "automatic-speech-recognition", "translation", "sentence-similarity",
               "feature-extraction", "summarization", "fill-mask"}
MIN_DOWNLOADS = 50  # keeps the slice to a few thousand cards (~5 s to parse)


@pytest.fixture(scope="module")
def real_models(corpus_dir) -> dict[str, ModelInfo]:
    from builder.report import SourceReport
    from builder.sources.cards2022 import model_from_row
    from builder.sources.hub2026 import read_hub2026

    models: dict[str, ModelInfo] = {}
    report = SourceReport("cards2022")
    with gzip.open(corpus_dir / "model_cards_2022.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            if row.get("pipeline_tag") in SLICE_TASKS and (row.get("downloads") or 0) >= MIN_DOWNLOADS:
                info, _ = model_from_row(row, report)
                models[info.id] = info
    for info, _ in read_hub2026(corpus_dir / "hub_models_2026.jsonl.gz", SourceReport("hub2026")):
        if info.pipeline_tag in SLICE_TASKS:
            models[info.id] = info  # the 2026 record wins, as in the index
    assert len(models) > 1000
    return models


@pytest.fixture(scope="module")
def real_threads(corpus_dir):
    from builder.report import SourceReport
    from builder.sources.threads import read_threads

    return read_threads(corpus_dir, SourceReport("threads"))


@pytest.fixture(scope="module")
def rec(real_models, real_threads) -> Recommender:
    return Recommender(real_models, threads=real_threads)


def _english_only(m: ModelInfo) -> bool:
    return [x.lower() for x in m.languages] == ["en"]


@pytest.mark.parametrize("question", [
    "Spanish NER", "extract names of people from Spanish news", "NER model for es text",
])
def test_spanish_ner_never_english_only_first(rec, real_models, question):
    recs = rec.recommend(question, k=5)
    assert recs, "a Spanish/multilingual NER model exists in the slice"
    first = real_models[recs[0].model_id]
    assert first.pipeline_tag == "token-classification"
    assert not _english_only(first)
    assert language_tier(first, ["es"]) == 0  # speaks Spanish (or says it is multilingual)
    assert all(not _english_only(real_models[r.model_id]) for r in recs)


def test_size_words_rank_big_models_lower_and_a_stated_limit_drops_them(rec, real_models):
    """"Small ... on CPU" is a budget (~1B): models within it come first and any larger one
    shown says so; a limit stated in numbers is a filter."""
    recs = rec.recommend("a small chatbot that runs on CPU", k=10)
    assert recs
    sizes = [estimate_params(real_models[r.model_id])[0] for r in recs]
    assert all(p is None or p <= 1_000_000_000 for p in sizes[:3]), [r.model_id for r in recs]
    for r, p in zip(recs, sizes, strict=True):
        over = bool(p and p > 1_000_000_000)
        assert over == any("more than the ~1B your request suggests" in w for w in r.warnings), r.model_id
    limited = rec.recommend("a chatbot under 1B parameters", k=10)
    assert limited and all((estimate_params(real_models[r.model_id])[0] or 0) <= 1_000_000_000
                           for r in limited)
    # and without the constraint the big ones do come back: the limit did the work
    unconstrained = rec.recommend("chatbot", k=50)
    assert any((estimate_params(real_models[r.model_id])[0] or 0) > 1_000_000_000
               for r in unconstrained)


def test_filters_are_honoured(rec, real_models):
    recs = rec.recommend("classify text", {"task": "text-classification", "license_family": "oss",
                                           "max_params": "500M", "library": "pytorch"}, k=10)
    assert recs
    for r in recs:
        m = real_models[r.model_id]
        assert m.pipeline_tag == "text-classification"
        assert m.license_family == "oss"
        p, _ = estimate_params(m)
        assert p is None or p <= 500_000_000
        assert {"pytorch", "transformers", "safetensors"} & {*m.tags, *m.formats, m.library or ""}


def test_explicit_filter_overrides_text(rec, real_models):
    recs = rec.recommend("summarize articles", {"task": "translation", "language": "German"})
    assert recs and all(real_models[r.model_id].pipeline_tag in ("translation", "text2text-generation")
                        for r in recs)
    assert all(language_tier(real_models[r.model_id], ["de"]) in (0, 1, 2) for r in recs)
    assert not any(real_models[r.model_id].languages == ["en"] for r in recs)
    src = rec.recommend("text generation", {"source": "2026"}, k=5)
    assert src and all(r.source == "2026" for r in src)
    # the 2026 snapshot holds no card text: their card quality is unknown, not 0%
    assert not any(r.card_read for r in src)
    old = rec.recommend("text generation", {"source": "2022"}, k=5)
    assert old and all(r.card_read for r in old)
    gguf = rec.recommend("text generation", {"library": "gguf"}, k=5)
    assert gguf and all("gguf" in {*real_models[r.model_id].formats, *real_models[r.model_id].tags,
                                   real_models[r.model_id].library or ""} for r in gguf)


@pytest.mark.parametrize("filters", [
    {"task": "make-me-coffee"}, {"max_params": -5}, {"max_params": 10}, {"max_params": "lots"},
    {"license_family": "free-ish"}, {"source": "1999"}, {"language": "Klingon!"},
])
def test_invalid_filters(rec, filters):
    with pytest.raises(InvalidInputError) as e:
        rec.recommend("sentiment", filters)
    assert len(str(e.value)) > 20  # says what to do


def test_empty_request_and_bad_k(rec):
    with pytest.raises(InvalidInputError):
        rec.recommend("   ")
    with pytest.raises(InvalidInputError):
        rec.recommend("sentiment", k=0)
    assert rec.recommend("", {"task": "fill-mask"})  # a task filter alone is a request


def test_popular_documented_models_win(rec, real_models):
    ids = [r.model_id for r in rec.recommend("sentiment of English tweets")]
    assert {"distilbert-base-uncased-finetuned-sst-2-english",
            "cardiffnlp/twitter-roberta-base-sentiment"} & set(ids)
    # the same model with no downloads, likes or card ranks below the original
    best = real_models[ids[0]]
    clone = dataclasses.replace(best, id="nobody/" + best.id.split("/")[-1] + "-copy",
                                downloads=0, likes=0, card_quality=0.0, card_chars=0)
    rec2 = Recommender({**real_models, clone.id: clone})
    ids2 = [r.model_id for r in rec2.recommend("sentiment of English tweets", k=50)]
    assert clone.id not in ids2 or ids2.index(best.id) < ids2.index(clone.id)


def test_evidence_warnings_and_snippet(rec):
    recs = rec.recommend("sentiment analysis", k=5)
    for r in recs:
        assert r.url == f"https://huggingface.co/{r.model_id}"
        assert r.model_id in r.snippet
        compile(r.snippet, "<snippet>", "exec")
        assert 0.0 <= r.card_quality <= 1.0
    thin = [r for r in rec.recommend("text classification", k=50) if r.card_quality < 0.4]
    assert thin and all(any("card" in w.lower() for w in r.warnings) for r in thin)


def test_real_recommendations_put_fit_and_access_before_the_card(rec):
    from advisor.model_warnings import load_warning_texts

    order = list(load_warning_texts())
    kinds = {load_warning_texts()[k].short.split("{")[0]: k for k in order}
    seen = 0
    for query in ("sentiment analysis of German reviews", "a small model to summarize news",
                  "named entity recognition for Spanish", "text generation"):
        for r in rec.recommend(query, k=10):
            ranks = [order.index(k) for w in r.warnings
                     for start, k in kinds.items() if start and w.startswith(start)]
            assert ranks == sorted(ranks), (r.model_id, r.warnings)
            seen += len(ranks) > 1
    assert seen, "no recommendation had two warnings to order"


def test_thread_mentions_cite_real_threads(rec, real_threads):
    lines = rec.thread_mentions("t5-base", limit=3)
    assert lines, "the coded threads discuss T5"
    urls = {t.url for t in real_threads}
    for line in lines:
        assert line.startswith("People struggled with t5")
        assert any(u in line for u in urls)


def test_retriever_relevance_changes_order(real_models, monkeypatch):
    """With a weight, the hybrid search's rank lifts a model; at weight 0 (the fitted
    value) the search is not run at all."""
    import advisor.relevance as relevance

    sub = dict(sorted(((k, m) for k, m in real_models.items()
                       if m.pipeline_tag == "summarization"), key=lambda kv: -kv[1].downloads)[:40])
    target = min(sub.values(), key=lambda m: m.downloads)  # the least popular one

    class OneHitRetriever:
        calls = 0

        def search(self, query, k=8, kinds=None, doc_ids=None):
            OneHitRetriever.calls += 1
            assert kinds == ["model", "model2026"]
            return [Hit(0, f"model:{target.id}#0", f"model:{target.id}", "model", target.id,
                        "", "", 1.0)]

    plain = [r.model_id for r in Recommender(sub).recommend("summarization", k=len(sub))]
    monkeypatch.setattr(relevance, "W_RETRIEVAL", 0.0)
    unread = [r.model_id for r in Recommender(sub, retriever=OneHitRetriever()).recommend(
        "summarization", k=len(sub))]
    assert OneHitRetriever.calls == 0 and unread == plain
    monkeypatch.setattr(relevance, "W_RETRIEVAL", 0.05)
    boosted = [r.model_id for r in Recommender(sub, retriever=OneHitRetriever()).recommend(
        "summarization", k=len(sub))]
    assert OneHitRetriever.calls == 1
    assert boosted.index(target.id) < plain.index(target.id)


def test_recommender_on_small_index(small_index):
    from advisor.config import Config
    from advisor.retrieval import HybridRetriever

    rec = Recommender(small_index, HybridRetriever(small_index, Config()))
    tag = max({m.pipeline_tag for m in small_index.models.values() if m.pipeline_tag},
              key=lambda t: sum(m.pipeline_tag == t for m in small_index.models.values()))
    recs = rec.recommend("", {"task": tag}, k=5)
    assert recs and all(r.model_id in small_index.models for r in recs)
    assert all(r.pipeline_tag == tag for r in recs)


@pytest.mark.parametrize("s, expected", [
    ("bert-base-uncased", "bert-base-uncased"),
    ("cardiffnlp/twitter-roberta-base-sentiment", "cardiffnlp/twitter-roberta-base-sentiment"),
    ("  dslim/bert-base-NER ", "dslim/bert-base-NER"),
    ("https://huggingface.co/dslim/bert-base-NER", "dslim/bert-base-NER"),
    ("https://huggingface.co/dslim/bert-base-NER/tree/main", "dslim/bert-base-NER"),
    ("huggingface.co/gpt2", "gpt2"),
    ("Qwen/Qwen2.5-0.5B-Instruct", "Qwen/Qwen2.5-0.5B-Instruct"),
])
def test_validate_model_id_accepts(s, expected):
    assert validate_model_id(s) == expected


@pytest.mark.parametrize("s", [
    "../../etc/passwd", "/etc/passwd", "a/b/c", "", "   ", "bert\x00base", "bert\nbase",
    "https://evil.example.com/owner/name", "https://huggingface.co/datasets/squad",
    "owner/" + "x" * 97, "owner/..", "owner/name with space", None, 42, "ftp://huggingface.co/a/b",
])
def test_validate_model_id_rejects(s):
    with pytest.raises(InvalidModelIdError) as e:
        validate_model_id(s)
    assert "owner/name" in str(e.value)


@pytest.mark.parametrize("model_id, low, high", [
    ("EleutherAI/gpt-j-6B", 5e9, 7e9), ("distilbert-base-uncased", 5e7, 1e8),
    ("bert-large-cased", 3e8, 6e8), ("t5-small", 4e7, 8e7), ("gpt2", 1e8, 2e8),
    ("EleutherAI/pythia-160m", 1.5e8, 1.7e8),
])
def test_estimate_params(model_id, low, high):
    n, estimated = estimate_params(model_id)
    assert estimated and low <= n <= high


def test_record_count_wins_unless_quantised():
    m = ModelInfo(id="x/Foo-27B-GGUF", source="2026", parameters=460_000_000)
    assert estimate_params(m) == (27_000_000_000, True)
    m2 = ModelInfo(id="x/Foo-1B", source="2026", parameters=1_100_000_000)
    assert estimate_params(m2) == (1_100_000_000, False)
    assert estimate_params("someone/my-model") == (None, False)


def test_derivatives_are_counted_from_the_fine_tune_graph(real_models):
    """A 2026 record naming another author's base model is a derivative; the base gets
    the count of models in the index that name it, and ranks above an equally popular
    derivative of it."""
    from advisor import pools as P
    from advisor.modelfacts import is_derivative

    bases = {}
    for m in real_models.values():
        if m.base_model and m.base_model in real_models:
            bases.setdefault(m.base_model, []).append(m)
    base_id, kids = max(bases.items(), key=lambda kv: len(kv[1]))
    kid = next(k for k in kids if is_derivative(k))
    assert not is_derivative(real_models[base_id])
    assert not is_derivative(dataclasses.replace(kid, base_model=None))
    same_author = dataclasses.replace(kid, id=base_id.split("/")[0] + "/x", base_model=base_id)
    assert not is_derivative(same_author)
    rec = Recommender(real_models)
    assert rec._feat(real_models[base_id]).log_derivatives == pytest.approx(math.log1p(len(kids)))
    assert rec._feat(kid).derivative and rec._feat(kid).log_derivatives == 0.0
    # equal popularity: the base's terms put it above the derivative
    twin_base = dataclasses.replace(real_models[base_id], downloads=1000, likes=10)
    twin_kid = dataclasses.replace(kid, downloads=1000, likes=10, pipeline_tag=twin_base.pipeline_tag)
    feats = {m.id: ModelFeatures.of(m, 5 if m is twin_base else 0) for m in (twin_base, twin_kid)}
    pool = P.CandidatePool.of([(m, 0, False, feats[m.id], False) for m in (twin_base, twin_kid)],
                              None)
    want = (P.W_DERIVATIVES + P.DERIVATIVE_PENALTY
            + P.W_CARD * (P.card_score(twin_base) - P.card_score(twin_kid)))
    assert pool.base[0] - pool.base[1] == pytest.approx(want)
    # a library the request names and the derivative provides: no mark-down
    asked = P.CandidatePool.of([(twin_kid, 0, False, feats[twin_kid.id], False)], None, None, "gguf")
    plain = P.CandidatePool.of([(twin_kid, 0, False, feats[twin_kid.id], False)], None)
    assert asked.base[0] - plain.base[0] == pytest.approx(P.DERIVATIVE_PENALTY)
    # and the pick says what it builds on
    from advisor.recommender import _Scored
    from advisor.tasks import ModelRequest

    req = ModelRequest(text="a model", task=kid.pipeline_tag)
    scored = _Scored.of((kid, 0, False, rec._feat(kid), False), 0.0)
    assert any(base_id in w and "original" in w for w in rec._warnings(req, scored))
    scored_base = _Scored.of((real_models[base_id], 0, False, rec._feat(real_models[base_id]), False), 0.0)
    assert not any("original" in w for w in rec._warnings(req, scored_base))


def test_model_families():
    assert model_families("xlm-roberta-large-finetuned-conll03-english")[:2] == ["xlm-roberta", "roberta"]
    assert "bert" not in model_families("distilbert-base-uncased")
    assert model_families("facebook/wav2vec2-base-960h") == ["wav2vec2"]
    assert not math.isnan(len(model_families("")))


def test_collapse_keeps_at_most_two_variants_of_one_family():
    from types import SimpleNamespace

    from advisor.modelfacts import collapse_variants, family_key
    from advisor.types import ModelInfo

    ids = ["openai/whisper-large-v3", "openai/whisper-small", "openai/whisper-base",
           "facebook/wav2vec2-base-960h", "openai/whisper-tiny", "nvidia/parakeet-tdt-0.6b"]
    ranked = [SimpleNamespace(model=ModelInfo(id=i, source="2026")) for i in ids]
    assert family_key(ranked[0].model) == family_key(ranked[1].model) == "openai/whisper"
    out = [c.model.id for c in collapse_variants(ranked, 4)]
    assert out == ["openai/whisper-large-v3", "openai/whisper-small",
                   "facebook/wav2vec2-base-960h", "nvidia/parakeet-tdt-0.6b"]
    # too few families left: the skipped variants fill up
    assert len(collapse_variants(ranked[:3], 3)) == 3


class _RankedRetriever:
    """Ranks the candidate documents it is given by a hash of the model id (a fixed,
    query-independent order), like a dense search restricted to the candidates."""

    def search(self, query, k=8, kinds=None, doc_ids=None):
        import hashlib

        ids = sorted({d.split(":", 1)[1] for d in (doc_ids or ())},
                     key=lambda i: hashlib.sha1(f"{query}|{i}".encode()).hexdigest())[:k]
        return [Hit(n, f"model:{i}#0", f"model:{i}", "model", i, "", "", 1.0 - n / 100)
                for n, i in enumerate(ids)]


@pytest.mark.parametrize("text", ["sentiment analysis of German reviews",
                                  "named entity recognition", "a model", "translate en to fr",
                                  "a small text classifier for my phone"])
def test_pruned_ranking_equals_scoring_every_candidate(real_models, text, monkeypatch):
    """_top visits candidates by a vectorised upper bound and stops early: it must give
    exactly the order of scoring and sorting all of them."""
    import advisor.recommender as recommender
    from advisor.recommender import _rank_key, collapse_variants

    monkeypatch.setattr(recommender, "MIN_PRUNE_CANDIDATES", 20)  # prune on the slice too
    rec = Recommender(real_models, retriever=_RankedRetriever())
    req, source = rec.build_request(text)
    pool = rec._pool(req, source)
    assert len(pool.items) > 20
    got = [c.model.id for c in rec._top(req, pool, 5)]
    cands = rec.candidates(req, source)
    rel = rec.scorer(req, pool)
    for c in cands:
        rec._score_one(req, c, rel)
    want = [c.model.id for c in collapse_variants(sorted(cands, key=_rank_key)[:15], 5)]
    assert got == want
    # each precomputed base is the score's formula at relevance 0, written out here
    _check_base(pool, req)
    from advisor import pools as P
    from advisor.relevance import lexical

    c = cands[0]
    rec._score_one(req, c, rel)
    i = pool.position[c.model.id]
    assert c.score == pytest.approx(
        P.W_LEXICAL * lexical(req, c.model) + P.W_RETRIEVAL * rel.retrieval[i]
        + P.W_COSINE * rel.cosine[i] + P.W_BM25 * rel.bm25[i] + c.base)


def _check_base(pool, req, n: int = 200) -> None:
    """Each precomputed base is the score's formula at relevance 0, written out here."""
    from advisor import pools as P

    for (m, tier, related, f, other), base in list(zip(pool.items, pool.base, strict=True))[:n]:
        card = m.card_quality if (m.card_chars or m.source == "2022") else P.NEUTRAL_CARD_QUALITY
        want_base = (P.W_DOWNLOADS * f.log_downloads / pool.max_dl
                     + P.W_LIKES * f.log_likes / pool.max_lk + P.W_CARD * card
                     + (P.CURRENT_RECORD_BONUS if m.source != "2022" else 0.0)
                     - P.LANGUAGE_PENALTY.get(tier, 0.0)
                     - (P.RELATED_TASK_PENALTY if related else 0.0)
                     - (P.UNKNOWN_SIZE_PENALTY if req.max_params and f.params is None else 0.0)
                     - (P.OTHER_LIBRARY_PENALTY if other else 0.0)
                     - (P.OVER_BUDGET_PENALTY + P.W_OVER_BUDGET * math.log2(f.params / req.max_params)
                        if req.max_params and f.params and f.params > req.max_params else 0.0)
                     + P.W_DERIVATIVES * f.log_derivatives / pool.max_der
                     - (P.DERIVATIVE_PENALTY if f.derivative and not (req.library and not other)
                        else 0.0))
        assert abs(want_base - base) < 1e-9


def test_candidate_pools_are_shared_by_filters_and_bounded(real_models, monkeypatch):
    import advisor.recommender as recommender

    monkeypatch.setattr(recommender, "POOL_CACHE_SIZE", 2)
    rec = Recommender(real_models)
    a, _ = rec.build_request("German sentiment analysis of product reviews")
    b, _ = rec.build_request("sentiment of German tweets please")
    assert (a.task, a.languages) == (b.task, b.languages)
    assert rec._pool(a, None) is rec._pool(b, None)  # same filters: one pool
    other, _ = rec.build_request("English summarization")
    third, _ = rec.build_request("French named entity recognition")
    first = rec._pool(a, None)
    rec._pool(other, None)
    rec._pool(third, None)
    assert rec._pool_cache.cache_info().currsize == 2
    assert rec._pool(a, None) is not first  # evicted, rebuilt
    assert [c.model.id for c in rec.candidates(a, None)] == [
        m.id for m, *_ in rec._pool(a, None).items]


def test_a_listed_language_set_is_believed(rec, real_models):
    """A model that counts as multilingual by its name or its long language list, but
    whose list leaves the asked language out, is not offered for that language."""
    listed = [m for m in real_models.values()
              if len(m.languages) >= 5 and "multilingual" not in m.languages
              and "fa" not in m.languages and m.pipeline_tag == "translation"]
    assert listed, "the slice holds translation models listing their languages"
    assert all(language_tier(m, ["en", "fa"], require_all=True) is None for m in listed)
    assert all(language_tier(m, ["fa"]) is None for m in listed)
    m2m = [m for m in real_models.values() if m.languages == ["multilingual"]]
    assert m2m and all(language_tier(m, ["fa"]) == 1 for m in m2m)  # says no more
    ids = [r.model_id for r in rec.recommend("translate English to Persian", k=10)]
    assert ids and not set(ids) & {m.id for m in listed}


def test_a_translation_pair_in_the_id_counts_with_either_separator(rec):
    from advisor.tasks import parse_request

    req = parse_request("translate English to Persian")
    assert req.keywords[0] == "en-fa"
    def model(mid: str) -> ModelInfo:
        return ModelInfo(id=mid, pipeline_tag="translation", source="2022")

    by_dash = model("x/opus-mt-en-fa")
    by_underscore = model("x/mt5-translation_en_fa")
    reversed_ = model("x/mt5-translation_fa_en")
    from advisor.relevance import lexical

    assert lexical(req, by_dash) == lexical(req, by_underscore) > 0
    assert lexical(req, reversed_) < lexical(req, by_underscore)


def test_fine_tuning_requests_also_get_base_checkpoints(rec, real_models):
    """Someone who will fine-tune a classifier starts from a pre-trained checkpoint
    (fill-mask on the Hub); without that wish only trained classifiers are offered."""
    tuned = rec.candidates(rec.explain_request("Spanish text classification model"))
    assert {c.model.pipeline_tag for c in tuned} == {"text-classification"}
    req = rec.explain_request("I want to fine-tune a Spanish model on my reviews for sentiment "
                              "classification")
    assert req.fine_tune and req.task == "text-classification"
    cands = rec.candidates(req)
    base = [c for c in cands if c.model.pipeline_tag == "fill-mask"]
    assert base and all(c.related_task for c in base)
    ids = [r.model_id for r in rec.recommend("I need to fine-tune BERT for classifying "
                                             "support tickets", k=10)]
    assert any(real_models[i].pipeline_tag == "fill-mask" for i in ids), ids


def test_a_library_named_in_the_text_ranks_but_an_explicit_filter_drops(rec, real_models):
    """"I use X" is a preference: models of other libraries stay, below equally good
    ones and with a warning; the same library as a filter drops them."""
    text = "a sentiment model for English product reviews, I use tensorflow"
    req, soft = rec.recommend_with_request(text, k=20)
    assert req.library == "tensorflow" and not req.library_strict
    strict = rec.recommend(text, {"library": "tensorflow"}, k=20)
    assert strict and all(rec._library_ok(real_models[r.model_id], "tensorflow")
                          for r in strict)
    others = [r for r in soft if not rec._library_ok(real_models[r.model_id], "tensorflow")]
    assert others, "a text-named library must not filter the other libraries' models out"
    assert all(any("Not a tensorflow model" in w for w in r.warnings) for r in others)
    # the base score of a flagged model carries the penalty, written out here
    pool = rec._pool(req, None)
    from advisor import pools as P

    flagged = [i for i, it in enumerate(pool.items) if it[4]]
    assert flagged and len(flagged) < len(pool.items)
    i = flagged[0]
    m, tier, related, f, _ = pool.items[i]
    card = m.card_quality if (m.card_chars or m.source == "2022") else P.NEUTRAL_CARD_QUALITY
    want = (P.W_DOWNLOADS * f.log_downloads / pool.max_dl + P.W_LIKES * f.log_likes / pool.max_lk
            + P.W_CARD * card + (P.CURRENT_RECORD_BONUS if m.source != "2022" else 0.0)
            - P.LANGUAGE_PENALTY.get(tier, 0.0)
            - (P.RELATED_TASK_PENALTY if related else 0.0) - P.OTHER_LIBRARY_PENALTY
            + P.W_DERIVATIVES * f.log_derivatives / pool.max_der
            - (P.DERIVATIVE_PENALTY if f.derivative else 0.0))
    assert pool.base[i] == pytest.approx(want)


def test_related_tasks_are_learned_from_labelled_requests(real_models, tmp_path):
    from advisor.pools import (
        MIN_RELATED_COUNT,
        load_related,
        related_tasks,
        save_related,
    )
    from advisor.pools import learn_related_tasks as learn

    tc = [m.id for m in real_models.values() if m.pipeline_tag == "text-classification"]
    fm = [m.id for m in real_models.values() if m.pipeline_tag == "fill-mask"]
    n = MIN_RELATED_COUNT
    # rerank requests whose good models are cross-encoders tagged text-classification
    reqs = [("text-ranking", tc[i:i + 1]) for i in range(n)]
    reqs += [("token-classification", fm[:1])] * (n - 1)  # one short of the count
    reqs += [("summarization", ["no/such-model", fm[0]])] * n  # unknown ids are skipped
    got = learn(reqs, real_models)
    assert got["text-ranking"] == ("text-classification",)
    assert "token-classification" not in got
    assert got["summarization"] == ("fill-mask",)
    # a tag that is a small share of the task's good models does not count
    mixed = [("translation", [t]) for t in
             [real_models[i].id for i in tc[:n]]] + [("translation", [m.id]) for m in
                                                     [m for m in real_models.values()
                                                      if m.pipeline_tag == "translation"][:60]]
    assert "translation" not in learn(mixed, real_models)
    save_related(tmp_path, got)
    assert load_related(tmp_path) == got
    assert load_related(tmp_path / "missing") == {}
    (tmp_path / "related_tasks.json").write_text('{"format_version": 99}', encoding="utf-8")
    assert load_related(tmp_path) == {}
    # the Hub conventions come first, learned tags after, without repeats
    assert related_tasks("summarization", {"summarization": ("fill-mask", "text2text-generation")}) \
        == ("text2text-generation", "fill-mask")


def test_learned_related_tasks_join_the_candidates(real_models, real_threads, tmp_path):
    from advisor.pools import save_related

    class _Index:  # what the recommender reads from an index: its directory
        index_dir = tmp_path

    plain = Recommender(real_models, threads=real_threads)
    save_related(tmp_path, {"text-classification": ("fill-mask",)})
    learned = Recommender(real_models, threads=real_threads)
    learned.index = _Index()
    from advisor.pools import load_related

    learned._related = load_related(tmp_path)
    req, _ = plain.build_request("classify the sentiment of English reviews",
                                 {"task": "text-classification"})
    before = {it[0].pipeline_tag for it in plain._pool(req, None).items}
    after = [it for it in learned._pool(req, None).items if it[0].pipeline_tag == "fill-mask"]
    assert "fill-mask" not in before
    assert after and all(it[2] for it in after)  # related: penalised and warned about


def test_a_close_runner_up_task_takes_the_last_slots(rec, real_models, monkeypatch):
    """A wrong task costs the whole list: with a runner-up task close enough, its best
    models take the last slots, marked; a weak runner-up or a task filter changes nothing."""
    from advisor.recommender import RUNNER_UP_RATIO, RUNNER_UP_SLOTS

    orig = rec.build_request
    second = {"p": 0.3}

    def reading(text, filters=None, qvec=None):
        req, src = orig(text, filters, qvec)
        if not (filters or {}).get("task"):
            req.task, req.task_confidence = "text-classification", 0.5
            req.task_alternatives = [("token-classification", second["p"])]
        return req, src

    monkeypatch.setattr(rec, "build_request", reading)
    text = "a model for English customer messages"
    recs = rec.recommend(text, k=5)
    tags = [real_models[r.model_id].pipeline_tag for r in recs]
    assert len(recs) == 5 and len({r.model_id for r in recs}) == 5
    assert tags[:5 - RUNNER_UP_SLOTS] == ["text-classification"] * (5 - RUNNER_UP_SLOTS)
    assert tags[5 - RUNNER_UP_SLOTS:] == ["token-classification"] * RUNNER_UP_SLOTS
    assert all(r.warnings[0].startswith("For token-classification") for r in recs[3:])
    req = rec.build_request(text)[0]
    assert rec.runner_up(req) == "token-classification"
    second["p"] = 0.5 * RUNNER_UP_RATIO * 0.9  # below the ratio: one task only
    assert {real_models[r.model_id].pipeline_tag for r in rec.recommend(text, k=5)} \
        == {"text-classification"}
    second["p"] = 0.3
    told = rec.recommend(text, {"task": "text-classification"}, k=5)
    assert {real_models[r.model_id].pipeline_tag for r in told} == {"text-classification"}


@pytest.fixture(scope="module")
def vision_models(corpus_dir, real_models) -> dict[str, ModelInfo]:
    """The slice plus the 2022 cards of two image tasks (what teaches ``vision``)."""
    from builder.report import SourceReport
    from builder.sources.cards2022 import model_from_row

    models = dict(real_models)
    report = SourceReport("cards2022")
    with gzip.open(corpus_dir / "model_cards_2022.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            if row.get("pipeline_tag") in ("image-classification", "zero-shot-image-classification"):
                info, _ = model_from_row(row, report)
                models.setdefault(info.id, info)
    return models


def test_a_related_task_of_another_modality_keeps_only_models_that_show_it(vision_models, tmp_path):
    """feature-extraction stands in for an image task (CLIP's tag), but only with the
    checkpoints whose tags show vision: text embedders do not fill an image request;
    a text request keeps its text embedders from the same related task."""
    from advisor.pools import load_related, save_related, shows_modality, tag_modalities
    from advisor.tasks import load_modalities

    evidence = tag_modalities(vision_models.values(), load_modalities())
    assert {"vision", "text"} <= set(evidence.values())
    embedder = vision_models["sentence-transformers/all-MiniLM-L6-v2"]
    assert not shows_modality(embedder, "vision", evidence)

    save_related(tmp_path, {"zero-shot-image-classification": ("feature-extraction",),
                            "sentence-similarity": ("feature-extraction",)})
    rec = Recommender(vision_models)
    rec._related = load_related(tmp_path)
    req, _ = rec.build_request("label photos with my own class names", {"task": "zero-shot-image-classification"})
    related = [it[0] for it in rec._pool(req, None).items if it[2]]
    fe = [m for m in related if m.pipeline_tag == "feature-extraction"]
    named = {m.id for m in rec._inferred.get("zero-shot-image-classification", [])}  # by id
    assert fe and all(shows_modality(m, "vision", rec._tag_modalities) or m.id in named for m in fe)
    assert any(m.id not in named for m in fe)
    assert embedder.id not in {m.id for m in related}
    all_fe = [m for m in vision_models.values() if m.pipeline_tag == "feature-extraction"]
    assert len(fe) < len(all_fe) / 10  # most feature-extraction checkpoints are text
    text_req, _ = rec.build_request("sentence embeddings for English FAQ search",
                                    {"task": "sentence-similarity"})
    text_related = {it[0].id for it in rec._pool(text_req, None).items if it[2]}
    assert embedder.id in text_related or len(text_related) > len(fe)
