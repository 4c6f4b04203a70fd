"""advisor.snippets over real records: invariants that hold for every model, plus rules.

The records are the 3,000 most downloaded models of each corpus file (2022 cards, 2026
Hub metadata), built with the builder's own row readers so they look exactly like the
index's. Card bodies are cut to their front matter first: the snippet reads no card
text, and parsing 3,000 full cards would take most of the time budget.

These tests check that snippets compile and pick the right runner; they do not run the
code (that needs the libraries and the Hub). Samples are checked against the YAML file
read here directly, not through the module.
"""

from __future__ import annotations

import ast
import gzip
import importlib.util
import json
import re
from pathlib import Path

import pytest
import yaml

from advisor.snippet_kit import (
    LEGACY_PIPELINE_TASKS,
    PIPELINE_TASKS,
    REMOTE_CODE_WARNING,
    SAMPLES_FILE,
    cpu_ok,
)
from advisor.snippets import make_snippet, plan_snippet
from advisor.types import ModelInfo
from builder.report import SourceReport
from builder.sources.cards2022 import CARDS_FILE, model_from_row
from builder.sources.hub2026 import HUB2026_FILE, model2026_from_row

TOP_N = 3000  # most downloaded models per corpus file
PIPELINE_CALL = re.compile(r"\bpipeline\(\s*\"([^\"]+)\"")
SAMPLES = yaml.safe_load(SAMPLES_FILE.read_text(encoding="utf-8"))
LANGS = sorted(SAMPLES["languages"])


def _front_matter_only(card: object) -> str:
    if isinstance(card, str) and card.startswith("---"):
        end = card.find("\n---", 3)
        return card[: end + 4] if end > 0 else ""
    return ""


def _top(path: Path, key: str) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    rows = [r for r in rows if r.get("id") and not r.get("removed")]
    rows.sort(key=lambda r: -(r.get(key) or 0))
    return rows[:TOP_N]


@pytest.fixture(scope="module")
def models(corpus_dir) -> list[ModelInfo]:
    report = SourceReport("cards2022")
    old = [model_from_row({**r, "card": _front_matter_only(r.get("card"))}, report)[0]
           for r in _top(corpus_dir / CARDS_FILE, "downloads")]
    new = [model2026_from_row(r)[0] for r in _top(corpus_dir / HUB2026_FILE, "downloads_30d")]
    return old + new


@pytest.fixture(scope="module")
def planned(models):
    """(model, plan) for every record; the request language cycles through the table."""
    return [(m, plan_snippet(m, language=LANGS[i % len(LANGS)])) for i, m in enumerate(models)]


def _with_code(planned):
    return [(m, s) for m, s in planned if s.code]


# --- invariants over the corpus ---------------------------------------------------------
def test_every_snippet_compiles_and_says_what_to_install(planned):
    with_code = _with_code(planned)
    assert len(with_code) > len(planned) // 2  # most popular models do get code
    for m, s in with_code:
        compile(s.code, f"<snippet {m.id}>", "exec")
        assert s.needs, m.id
        assert m.id in s.code or (m.base_model and m.base_model in s.code), m.id


def test_no_code_means_a_reason_and_make_snippet_none(planned):
    for m, s in planned:
        if not s.code:
            assert s.runner.endswith("(see card)") and s.note.startswith("No snippet:"), m.id
            assert m.url in s.note
            assert s.needs == []
    m = next(m for m, s in planned if not s.code)
    assert make_snippet(m) is None


def test_gguf_repos_never_get_transformers(planned):
    gguf = [(m, s) for m, s in planned
            if "gguf" in m.formats or "gguf" in m.tags or m.library in ("gguf", "llama.cpp")]
    assert len(gguf) > 500  # the 2026 file is full of them
    for m, s in gguf:
        assert "transformers" not in s.code and not PIPELINE_CALL.search(s.code), m.id
        assert s.runner == "llama-cpp-python" or not s.code, m.id
    assert sum(1 for _, s in gguf if s.code) > 500


def test_sentence_transformers_repos_get_sentence_transformer(planned):
    special = {"cross-encoder", "reranker", "text-ranking", "sparse-encoder", "sparseencoder",
               "splade", "colbert", "multi-vector", "pylate", "setfit", "gguf"}
    dense = [(m, s) for m, s in planned
             if m.library == "sentence-transformers"
             and not special & {t.lower() for t in m.tags} and "gguf" not in m.formats
             and "rerank" not in m.id.lower()
             and m.pipeline_tag in (None, "feature-extraction", "sentence-similarity")]
    assert len(dense) > 100
    for m, s in dense:
        assert s.runner == "sentence-transformers", m.id
        assert f'SentenceTransformer("{m.id}"' in s.code and "model.similarity(" in s.code


def test_rerankers_get_cross_encoder_predict_on_pairs(planned):
    rerankers = [(m, s) for m, s in planned if m.id.startswith("cross-encoder/ms-marco")
                 or "cross-encoder" in m.tags]
    assert rerankers
    for m, s in rerankers:
        assert s.runner == "sentence-transformers.CrossEncoder", m.id
        assert "model.predict([(query, passage)" in s.code


def test_non_transformers_libraries_never_get_a_pipeline(planned):
    for m, s in planned:
        if m.library != "transformers":
            assert not re.search(r"\bpipeline\(", s.code), m.id


def test_pipeline_task_is_the_models_own_tag(planned):
    used = 0
    for m, s in planned:
        found = PIPELINE_CALL.findall(s.code)
        if not found:
            continue
        used += 1
        assert found == [LEGACY_PIPELINE_TASKS.get(m.pipeline_tag, m.pipeline_tag)], m.id
    assert used > 1000


def test_pipeline_tasks_exist_in_installed_transformers():
    """Read transformers' pipeline table from source (importing it takes ~15 s here)."""
    spec = importlib.util.find_spec("transformers")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("transformers not installed")
    source = Path(spec.submodule_search_locations[0], "pipelines", "__init__.py").read_text()
    tables = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id in ("SUPPORTED_TASKS", "TASK_ALIASES"):
                    tables[target.id] = {k.value for k in node.value.keys if isinstance(k, ast.Constant)}
    known = tables["SUPPORTED_TASKS"] | tables["TASK_ALIASES"]
    assert PIPELINE_TASKS | set(LEGACY_PIPELINE_TASKS.values()) <= known


def test_custom_code_models_trust_remote_code_with_a_warning(planned):
    loads_hub_code = ("transformers", "sentence-transformers", "diffusers")
    custom = [(m, s) for m, s in _with_code(planned)
              if "custom_code" in m.tags and s.runner.startswith(loads_hub_code)]
    assert len(custom) > 20
    for m, s in custom:
        assert "trust_remote_code=True" in s.code, m.id
        assert REMOTE_CODE_WARNING in s.note
    for m, s in _with_code(planned):
        if "custom_code" not in m.tags:
            assert "trust_remote_code" not in s.code, m.id


def test_runs_on_cpu_only_when_the_size_says_so(planned):
    for m, s in planned:
        if "runs on a laptop CPU" in s.note:
            assert cpu_ok(m), m.id
    assert any("runs on a laptop CPU" in s.note for _, s in planned)


def test_main_runners_are_all_reached(planned):
    runners = {s.runner for _, s in _with_code(planned)}
    assert {"transformers.pipeline", "transformers", "sentence-transformers",
            "sentence-transformers.CrossEncoder", "llama-cpp-python", "diffusers",
            "mlx-lm", "flair"} <= runners


# --- samples from the YAML ----------------------------------------------------------------
def test_sample_table_is_complete_for_every_language():
    fields = set(SAMPLES["languages"]["en"])
    assert {"en", "es", "de", "fr", "it", "pt", "nl", "zh", "ja", "ar", "hi", "ru"} <= set(LANGS)
    for lang in LANGS:
        assert set(SAMPLES["languages"][lang]) == fields, lang
        assert "{mask}" in SAMPLES["languages"][lang]["mask"]


@pytest.mark.parametrize("lang", LANGS)
def test_samples_follow_the_request_language(lang):
    table = SAMPLES["languages"][lang]
    embedder = ModelInfo(id="org/multi-embed", source="2026", library="sentence-transformers",
                         pipeline_tag="sentence-similarity", languages=["multilingual"])
    s = make_snippet(embedder, language=lang)
    assert s.language == lang and json.dumps(table["sentences"], ensure_ascii=False) in s.code
    chat = ModelInfo(id="org/tiny-Instruct", source="2026", library="transformers",
                     pipeline_tag="text-generation", tags=["conversational"])
    assert json.dumps(table["chat"], ensure_ascii=False) in make_snippet(chat, language=lang).code


def test_language_fallbacks():
    english_only = ModelInfo(id="org/sentiment-en", source="2022", library="transformers",
                             pipeline_tag="text-classification", languages=["en"])
    s = make_snippet(english_only, language="es")  # a Spanish sentence demos nothing here
    assert s.language == "en" and SAMPLES["languages"]["en"]["text"] in s.code
    unknown = ModelInfo(id="org/any", source="2026", library="transformers",
                        pipeline_tag="text-classification")
    assert make_snippet(unknown, language="ko").language == "en"
    assert make_snippet(unknown, language="pt-BR").language == "pt"


# --- rules on hand-made records -------------------------------------------------------------
def test_cpu_ok_needs_a_known_small_size():
    m = ModelInfo(id="a/b", source="2026")
    assert not cpu_ok(m)
    for params, ok in ((1_500_000_000, True), (1_500_000_001, False), (66_000_000, True), (0, False)):
        m.parameters = params
        assert cpu_ok(m) is ok


def test_none_rather_than_a_wrong_snippet():
    assert make_snippet(ModelInfo(id="a/b", source="2026")) is None
    spacy = ModelInfo(id="spacy/en_core_web_sm", source="2022", library="spacy",
                      pipeline_tag="token-classification")
    assert make_snippet(spacy) is None
    plan = plan_snippet(spacy)
    assert plan.runner == "spacy (see card)" and "huggingface.co/spacy/en_core_web_sm" in plan.note
    no_task = ModelInfo(id="a/bert", source="2022", library="transformers")
    assert make_snippet(no_task, task="text-classification") is None  # not in its tags


def test_model_tag_beats_the_request_task():
    chat = ModelInfo(id="org/chat-it", source="2026", library="transformers",
                     pipeline_tag="text-generation", tags=["conversational"])
    s = make_snippet(chat, task="text-classification")
    assert PIPELINE_CALL.findall(s.code) == ["text-generation"] and "messages" in s.code
    tagged = ModelInfo(id="a/b", source="2022", library="transformers",
                       tags=["text-classification"])
    assert PIPELINE_CALL.findall(make_snippet(tagged, task="text-classification").code) == [
        "text-classification"]


def test_gguf_embedder_and_lora():
    emb = ModelInfo(id="org/embed-Q4_K_M-GGUF", source="2026", library="sentence-transformers",
                    pipeline_tag="feature-extraction", formats=["gguf"])
    s = make_snippet(emb)
    assert "embedding=True" in s.code and 'filename="*.gguf"' in s.code
    lora = ModelInfo(id="me/style-lora", source="2026", library="diffusers",
                     pipeline_tag="text-to-image", tags=["lora"], base_model="org/base-xl")
    s = make_snippet(lora)
    assert 'from_pretrained("org/base-xl")' in s.code and 'load_lora_weights("me/style-lora")' in s.code
    lora.base_model = None
    assert make_snippet(lora) is None
