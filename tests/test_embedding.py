"""advisor.embedding: the ONNX Runtime backend against the torch one, its export cache,
the fallback to torch, and get_embedder's contract. Texts are invented here."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import numpy as np
import pytest

import advisor.embedding as emb
from advisor.config import Config
from advisor.errors import EmbeddingModelError

MODEL = "packaged:all-MiniLM-L6-v2"

_SENTENCES = [
    "How do I fine-tune a BERT model on my own labelled dataset with the Trainer API?",
    "CUDA out of memory when loading a 7B model on a 16 GB GPU.",
    "The tokenizer splits my domain words into many sub-word pieces.",
    "My Space keeps restarting after the build finishes and shows no logs.",
    "Is there a multilingual sentence embedding model that works offline?",
    "pipeline('summarization') returns the same text I gave it.",
    "Where can I find the licence of this checkpoint before using it commercially?",
    "Inference API responds with 503 while the model is loading.",
    "ValueError: Expected input batch_size (8) to match target batch_size (16).",
    "I want to quantise the model to int8 to run it on a Raspberry Pi.",
    "The model card does not say what data the model was trained on.",
    "Gradio app works locally but fails on the Hub with a missing dependency.",
]


def _texts() -> list[str]:
    """~50 texts from 1 word to well past the model's 256-token limit, mixed order."""
    rng = np.random.default_rng(7)
    out = ["ok", "", "transformers", "  leading and trailing spaces  ", "émbeddings für alle ✓"]
    for n in (1, 2, 3, 5, 8, 13, 21, 34, 55):  # sentences per text
        for _ in range(5):
            picks = rng.choice(len(_SENTENCES), size=n, replace=True)
            out.append(" ".join(_SENTENCES[i] for i in picks))
    return [out[i] for i in rng.permutation(len(out))]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("advisor-cache")


@pytest.fixture(scope="module")
def onnx_embedder(cache_dir):
    pytest.importorskip("onnxruntime")
    return emb.OnnxEmbedder(MODEL, cache_dir)


@pytest.fixture(scope="module")
def torch_embedder():
    return emb.get_embedder(MODEL, "torch")


@pytest.mark.slow
def test_onnx_matches_torch_row_by_row(onnx_embedder, torch_embedder):
    texts = _texts()
    assert len(texts) == 50 and max(map(len, texts)) > 3000  # some pass 256 tokens
    a = onnx_embedder.encode(texts, batch_size=16)
    b = torch_embedder.encode(texts, batch_size=16)
    assert a.shape == b.shape == (len(texts), onnx_embedder.dim)
    assert a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    cos = np.sum(a * b, axis=1)
    assert cos.min() > 0.9999, (cos.argmin(), cos.min())


@pytest.mark.slow
def test_onnx_keeps_input_order_and_batching_does_not_matter(onnx_embedder):
    texts = _texts()
    whole = onnx_embedder.encode(texts, batch_size=64)
    one_by_one = np.vstack([onnx_embedder.encode([t]) for t in texts[:10]])
    np.testing.assert_allclose(whole[:10], one_by_one, atol=1e-5)
    rev = onnx_embedder.encode(texts[::-1], batch_size=7)
    np.testing.assert_allclose(rev[::-1], whole, atol=1e-5)
    # distinct texts get distinct rows: order is not an artefact of identical vectors
    assert not np.allclose(whole[0], whole[1])


@pytest.mark.slow
def test_onnx_encode_from_two_threads(onnx_embedder):
    from concurrent.futures import ThreadPoolExecutor

    texts = _texts()
    expected = onnx_embedder.encode(texts, batch_size=8)
    with ThreadPoolExecutor(2) as pool:  # the app's two queue workers share one embedder
        got = list(pool.map(lambda ts: onnx_embedder.encode(ts, batch_size=8), [texts, texts]))
    for g in got:
        np.testing.assert_allclose(g, expected, atol=1e-5)


@pytest.mark.slow
def test_onnx_empty_input_and_contract(onnx_embedder):
    out = onnx_embedder.encode([])
    assert out.shape == (0, onnx_embedder.dim) and out.dtype == np.float32
    assert onnx_embedder.model_id == MODEL  # indexes stay interchangeable between backends
    assert onnx_embedder.backend == "onnx"
    assert onnx_embedder.dim == 384 and onnx_embedder.max_seq_length == 256  # the model's files


@pytest.mark.slow
def test_export_is_cached(onnx_embedder, cache_dir, monkeypatch):
    assert onnx_embedder.onnx_path.is_file()
    assert onnx_embedder.onnx_path.is_relative_to(cache_dir / "onnx")

    def boom(*a, **k):
        raise AssertionError("exported again")

    monkeypatch.setattr(emb, "export_onnx", boom)
    again = emb.OnnxEmbedder(MODEL, cache_dir)
    assert again.exported is False and again.onnx_path == onnx_embedder.onnx_path
    np.testing.assert_allclose(again.encode(["cached"]), onnx_embedder.encode(["cached"]), atol=1e-6)
    # no temp directories left beside the export
    assert [p.name for p in (cache_dir / "onnx").iterdir()] == [onnx_embedder.onnx_path.parent.name]


@pytest.mark.slow
def test_get_embedder_onnx_returns_onnx(onnx_embedder, cache_dir, monkeypatch):
    monkeypatch.setattr(emb, "_CACHE", {})
    got = emb.get_embedder(MODEL, "onnx", cache_dir=cache_dir)
    assert isinstance(got, emb.OnnxEmbedder) and got.model_id == MODEL
    assert emb.get_embedder(MODEL, "onnx", cache_dir=cache_dir) is got  # one per process


@pytest.mark.slow
def test_fallback_to_torch_when_onnxruntime_missing(torch_embedder, tmp_path, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` -> ImportError
    monkeypatch.setattr(emb, "_CACHE", {(MODEL, "torch"): torch_embedder})
    with caplog.at_level(logging.WARNING, logger="advisor.embedding"):
        got = emb.get_embedder(MODEL, "onnx", cache_dir=tmp_path)
        emb.get_embedder(MODEL, "onnx", cache_dir=tmp_path)
    assert got is torch_embedder and got.model_id == MODEL and got.backend == "torch"
    warnings = [r for r in caplog.records if "ONNX embedding backend unavailable" in r.message]
    assert len(warnings) == 1
    assert not (tmp_path / "onnx").exists()


@pytest.mark.slow
def test_fallback_to_torch_when_export_fails(torch_embedder, tmp_path, monkeypatch, caplog):
    pytest.importorskip("onnxruntime")

    def broken_export(*a, **k):
        raise RuntimeError("exporter exploded")

    monkeypatch.setattr(emb, "export_onnx", broken_export)
    monkeypatch.setattr(emb, "_CACHE", {(MODEL, "torch"): torch_embedder})
    with caplog.at_level(logging.WARNING, logger="advisor.embedding"):
        got = emb.get_embedder(MODEL, "onnx", cache_dir=tmp_path)
    assert got is torch_embedder
    assert any("exporter exploded" in r.message for r in caplog.records)


# --- no model needed ------------------------------------------------------------------------
def _fake_model_dir(path, pooling_mode="pooling_mode_mean_tokens", weights=b"x" * 10):
    path.mkdir(parents=True, exist_ok=True)
    (path / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]))
    (path / "1_Pooling").mkdir(exist_ok=True)
    modes = {m: m == pooling_mode for m in
             ("pooling_mode_cls_token", "pooling_mode_mean_tokens", "pooling_mode_max_tokens")}
    (path / "1_Pooling" / "config.json").write_text(json.dumps({"word_embedding_dimension": 8, **modes}))
    (path / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 32}))
    (path / "config.json").write_text("{}")
    (path / "model.safetensors").write_bytes(weights)
    return path


def test_check_pipeline_accepts_mean_pooling_only(tmp_path):
    assert emb._check_pipeline(_fake_model_dir(tmp_path / "mean")) == (8, 32)
    with pytest.raises(EmbeddingModelError, match="mean pooling only"):
        emb._check_pipeline(_fake_model_dir(tmp_path / "cls", "pooling_mode_cls_token"))


def test_cache_key_follows_weights(tmp_path):
    a = emb.onnx_cache_key(_fake_model_dir(tmp_path / "a"))
    assert emb.onnx_cache_key(_fake_model_dir(tmp_path / "b")) == a  # same files, same key
    assert emb.onnx_cache_key(_fake_model_dir(tmp_path / "c", weights=b"y" * 11)) != a


def test_config_cache_dir_from_env(monkeypatch, tmp_path):
    monkeypatch.setenv("ADVISOR_CACHE_DIR", str(tmp_path / "c"))
    assert Config.from_env().cache_dir == tmp_path / "c"
    monkeypatch.delenv("ADVISOR_CACHE_DIR")
    assert Config.from_env().cache_dir.name == "reuse-advisor"


# --- configuration: one reader of the environment, no cycle, cache_dir honoured ---------
def test_config_imports_no_project_module():
    import subprocess

    code = ("import sys, advisor.config; "
            "print(sorted(m for m in sys.modules if m.startswith(('advisor.', 'builder'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=emb.Path(__file__).resolve().parents[1])
    assert out.stdout.strip() == "['advisor.config']"


def test_embedding_never_writes_hf_hub_offline(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    path = emb.resolve_model_dir(MODEL)  # the packaged model: a directory, no Hub call
    assert path.is_dir()
    assert "HF_HUB_OFFLINE" not in emb.os.environ


def test_config_reads_hub_settings(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9/")
    monkeypatch.setenv("ADVISOR_INDEX_REPO", "me/advisor-index")
    monkeypatch.setenv("ADVISOR_INDEX_REVISION", "v1")
    cfg = Config.from_env()
    assert cfg.hub_offline is True and cfg.hf_endpoint == "http://127.0.0.1:9"
    assert (cfg.index_repo, cfg.index_revision) == ("me/advisor-index", "v1")
    monkeypatch.delenv("HF_HUB_OFFLINE")
    assert Config.from_env().hub_offline is False


def test_embedder_for_uses_config_cache_dir(monkeypatch, tmp_path):
    seen = {}

    class Recorder:
        def __init__(self, model, cache_dir, threads=None):
            seen.update(model=model, cache_dir=cache_dir)
            self.model_id, self.dim = model, 8

    monkeypatch.setattr(emb, "OnnxEmbedder", Recorder)
    monkeypatch.setattr(emb, "_CACHE", {})
    cfg = Config(embed_model="some/model", embed_backend="onnx", cache_dir=tmp_path / "c",
                 index_dir=tmp_path / "no-index")
    got = emb.embedder_for(cfg)
    assert isinstance(got, Recorder)
    assert seen == {"model": "some/model", "cache_dir": tmp_path / "c"}


# --- bf16 autocast for builds ---------------------------------------------------------------
@pytest.mark.slow
def test_bf16_vectors_stay_close_to_fp32(torch_embedder):
    """The build's bf16 path: unit vectors, cosine >= 0.999 to fp32 row by row, in input
    order (checked on texts of every length, whether or not this CPU has native bf16)."""
    bf16 = emb.get_embedder(MODEL, emb.BF16_BACKEND)
    assert bf16.backend == "torch-bf16" and bf16.model_id == MODEL
    texts = _texts()
    a, b = bf16.encode(texts, batch_size=8), torch_embedder.encode(texts, batch_size=8)
    assert a.shape == b.shape and a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    cos = (a * b).sum(1)
    assert cos.min() >= 0.999, cos.min()
    assert bf16.bf16_fidelity(texts[:6]) == pytest.approx(float(cos[:6].min()), abs=1e-4)
    assert bf16.encode([]).shape == (0, bf16.dim)


def test_build_backend_choice(monkeypatch):
    from builder.embed import build_backend

    cfg = Config(embed_backend="onnx")
    for choice in ("onnx", "torch", "torch-bf16"):
        assert build_backend(cfg.replace(build_embed_backend=choice)) == choice
    monkeypatch.setattr("builder.embed.native_bf16", lambda: True)
    assert build_backend(cfg) == "torch-bf16"
    monkeypatch.setattr("builder.embed.native_bf16", lambda: False)
    assert build_backend(cfg) == "onnx"
    with pytest.raises(EmbeddingModelError, match="ADVISOR_BUILD_EMBED_BACKEND='bf16'"):
        build_backend(cfg.replace(build_embed_backend="bf16"))


def test_build_backend_from_env(monkeypatch):
    monkeypatch.setenv("ADVISOR_BUILD_EMBED_BACKEND", "torch")
    assert Config.from_env().build_embed_backend == "torch"
    monkeypatch.delenv("ADVISOR_BUILD_EMBED_BACKEND")
    assert Config.from_env().build_embed_backend == "auto"


class _Probe:
    """An embedder whose bf16 fidelity is set by the test."""

    def __init__(self, backend, fidelity=1.0):
        self.backend, self.fidelity, self.model_id, self.dim = backend, fidelity, MODEL, 3
        self.probed = []

    def bf16_fidelity(self, texts):
        self.probed.append(list(texts))
        return self.fidelity

    def encode(self, texts, batch_size=64):
        return np.ones((len(texts), 3), dtype=np.float32)


@pytest.mark.parametrize("fidelity, expected", [(0.9999, "torch-bf16"), (0.99, "onnx")])
def test_lazy_embedder_keeps_bf16_only_when_close(monkeypatch, caplog, fidelity, expected):
    import builder.embed as be

    made = {}

    def fake_get(model, backend, cache_dir=None):
        made[backend] = _Probe(backend, fidelity)
        return made[backend]

    monkeypatch.setattr(be, "native_bf16", lambda: True)
    monkeypatch.setattr(be, "get_embedder", fake_get)
    lazy = be.LazyEmbedder(Config(embed_backend="onnx"))
    assert lazy.backend == "torch-bf16"  # before loading: what it would use
    assert lazy.dim == 3 and made["torch-bf16"].probed == []  # loading alone probes nothing
    texts = [f"text {i}" for i in range(12)]
    with caplog.at_level(logging.WARNING):
        lazy.encode(texts)
    # the probe is the build's own first texts, once
    assert made["torch-bf16"].probed == [texts[: be.BF16_PROBE_SIZE]]
    assert lazy.backend == expected
    assert ("embedding with onnx instead" in caplog.text) == (expected == "onnx")
    lazy.encode(["more"])
    assert len(made["torch-bf16"].probed) == 1


def test_native_bf16_reads_cpu_flags(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f amx_bf16 amx_tile\n")
    assert emb.native_bf16(info) is True
    info.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16\n")
    assert emb.native_bf16(info) is True
    info.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_vnni\n")
    assert emb.native_bf16(info) is False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/cpuinfo")
def test_build_backend_choice_imports_no_torch():
    """A no-change rebuild never loads the model; choosing its backend must not import
    torch either (seconds of the no-change budget)."""
    import subprocess

    code = ("import sys; from advisor.config import Config; "
            "from builder.embed import build_backend; build_backend(Config()); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120, cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.strip() == "False", out.stderr
