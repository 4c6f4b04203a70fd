"""Lean serving: an index that ships its ONNX query encoder (index/onnx/) is served
with onnxruntime + tokenizers only. A fresh interpreter loads the engine on a small
such index, answers one question, and must not have imported torch,
sentence-transformers or transformers. The shipped encoder's vectors match the
sentence-transformers (torch) backend."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import REPO, SESSION_CACHE

MODEL = "packaged:all-MiniLM-L6-v2"
SENTENCES = [
    "Which model should I use for sentiment analysis of German product reviews?",
    "CUDA out of memory when fine-tuning BERT on Colab.",
    "OSError: Can't load tokenizer for 'my-model'.",
    "ok",
]


@pytest.fixture(scope="session")
def encoder_dir(tmp_path_factory):
    pytest.importorskip("onnxruntime")
    from advisor.embedding import write_query_encoder

    out = tmp_path_factory.mktemp("encoder") / "onnx"
    # exports once per session's cache dir if needed
    write_query_encoder(MODEL, tmp_path_factory.getbasetemp() / SESSION_CACHE, out)
    return out


@pytest.fixture(scope="session")
def lean_index_dir(small_index, small_index_dir, encoder_dir, tmp_path_factory):
    """A small real-model index: every taxonomy chunk plus some thread and model chunks
    of the small index, embedded with the shipped encoder, which the index holds."""
    import shutil

    from advisor.embedding import QUERY_ENCODER_DIR, OnnxEmbedder
    from advisor.kb_store import save_vector_cache
    from advisor.known_issues import load_known_issues
    from builder.store import read_chunk_cache, write_index
    from builder.vector_cache import CachedEmbedder

    by_kind: dict[str, list] = {}
    for _, chunks in read_chunk_cache(small_index_dir).values():
        for c in chunks:
            by_kind.setdefault(c.kind, []).append(c)
    chunks = [c for kind, cs in sorted(by_kind.items())
              for c in (cs if kind == "taxonomy" else cs[:40])]
    encoder = OnnxEmbedder.from_export(encoder_dir, MODEL, threads=2)  # bulk: both cores
    vecs = encoder.encode([c.text for c in chunks])
    out = tmp_path_factory.mktemp("lean") / "index"

    def extra(tmp):  # what a build writes beside the chunks: the encoder, the KB vectors
        shutil.copytree(encoder_dir, tmp / QUERY_ENCODER_DIR)
        save_vector_cache(tmp, load_known_issues(), CachedEmbedder(
            encoder, tmp_path_factory.getbasetemp() / SESSION_CACHE))

    write_index(out, chunks, vecs, models=[*small_index.models.values(),
                                           *small_index.models_2022.values()],
                threads=small_index.threads.values(), taxonomy=small_index.taxonomy,
                manifest={"embed_model": MODEL, "embed_backend": "onnx"}, extra=extra)
    return out


def test_shipped_encoder_matches_torch_backend(encoder_dir):
    from advisor.embedding import OnnxEmbedder, SentenceTransformerEmbedder

    lean = OnnxEmbedder.from_export(encoder_dir, MODEL).encode(SENTENCES)
    full = SentenceTransformerEmbedder(MODEL).encode(SENTENCES)
    cos = np.sum(lean * full, axis=1)
    assert cos.min() >= 0.9999, cos


def test_shipped_encoder_runs_lean(encoder_dir):
    """The serving encoder keeps no memory arena (a batch of long texts would keep ~1 GiB)
    and uses one intra-op thread per question; the vectors do not change."""
    from advisor.embedding import QUERY_THREADS, OnnxEmbedder

    enc = OnnxEmbedder.from_export(encoder_dir, MODEL)
    opts = enc._session.get_session_options()
    assert opts.enable_cpu_mem_arena is False
    assert opts.intra_op_num_threads == QUERY_THREADS == 1
    two = OnnxEmbedder.from_export(encoder_dir, MODEL, threads=2)
    assert np.allclose(enc.encode(SENTENCES), two.encode(SENTENCES), atol=1e-5)


def test_malloc_arenas_capped_unless_set(monkeypatch):
    import platform

    from advisor.app.process import limit_malloc_arenas

    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert limit_malloc_arenas() is False  # the operator's setting wins
    monkeypatch.delenv("MALLOC_ARENA_MAX")
    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert limit_malloc_arenas() is True


def test_blas_on_one_thread_unless_set():
    """The serving process runs numpy's and scipy's BLAS on one thread (requests are the
    parallelism; a BLAS pool only busy-waits), unless the operator chose a setting."""
    code = ("import os, sys; sys.path.insert(0, '.');"
            "from advisor.app.process import limit_blas_threads as lim;"
            "from threadpoolctl import threadpool_info;"
            "import numpy as np;"
            "before = max(i['num_threads'] for i in threadpool_info() if i['user_api'] == 'blas');"
            "done = lim();"
            "blas = [i for i in threadpool_info() if i['user_api'] == 'blas'];"
            "print(done, before, max(i['num_threads'] for i in blas), len(blas));"
            "a = np.ones((300, 300)); assert (a @ a)[0, 0] == 300")
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, check=True, env=env).stdout.split()
    assert out[0] == "True" and out[2] == "1" and int(out[3]) >= 1
    set_by_operator = {**env, "OPENBLAS_NUM_THREADS": "2"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, check=True, env=set_by_operator).stdout.split()
    assert out[0] == "False"  # left alone
    if os.cpu_count() and os.cpu_count() > 1:
        assert out[2] == "2"


def test_missing_matplotlib_is_refused_at_once():
    """Gradio imports matplotlib around every event; when it is not installed the app
    marks it missing once instead of searching sys.path on every event."""
    code = ("import importlib.util, sys; sys.path.insert(0, '.');"
            "from advisor.app.process import skip_missing_matplotlib as s;"
            "installed = importlib.util.find_spec('matplotlib') is not None;"
            "print(installed, s());"
            "import time; t = time.perf_counter()\n"
            "for _ in range(200):\n"
            "    try:\n        import matplotlib\n    except ImportError:\n        pass\n"
            "print((time.perf_counter() - t) * 1000)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, check=True).stdout.split()
    installed, changed, ms = out[0] == "True", out[1] == "True", float(out[2])
    assert changed is not installed  # only a missing package is marked
    if not installed:
        assert ms < 20  # 200 refused imports, no path search (~0.05 ms each)


def test_gradio_monitoring_thinned_unless_set(monkeypatch):
    """Gradio's queue recomputes its monitoring summary every Nth event over its last M
    events; the app raises N and lowers M unless the operator set them."""
    import gradio as gr

    from advisor.app.process import GRADIO_MONITORING, thin_gradio_monitoring

    for k in GRADIO_MONITORING:  # set then unset: monkeypatch restores the original
        monkeypatch.setenv(k, "0")
        monkeypatch.delenv(k)
    monkeypatch.setenv("GRADIO_ANALYTICS_MAX_EVENTS", "50")  # the operator's wins
    assert thin_gradio_monitoring() == {"GRADIO_ANALYTICS_CACHE_FREQUENCY": "200"}
    with gr.Blocks() as demo:
        gr.Markdown("x")
    demo.queue()
    assert demo._queue.ANAYLTICS_CACHE_FREQUENCY == 200
    assert demo._queue.ANALYTICS_MAX_EVENTS == 50


def test_trim_malloc_returns_freed_heap():
    import platform

    from advisor.app.process import trim_malloc
    from bench._common import rss_bytes

    if not (platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"):
        pytest.skip("malloc_trim is glibc's")

    junk = [bytes(200) * (i % 7 + 1) for i in range(300_000)]  # small blocks: the heap
    keep = junk[-2000:]  # the newest blocks stay: the heap's top cannot simply shrink
    del junk  # ~240 MiB of free pages below them
    before = rss_bytes()
    assert before > 0
    assert trim_malloc() is True
    assert rss_bytes() < before - 10 * 2**20  # > 10 MiB of freed pages handed back
    del keep


def test_shipped_encoder_refuses_another_model(encoder_dir):
    from advisor.embedding import OnnxEmbedder
    from advisor.errors import EmbeddingModelError

    with pytest.raises(EmbeddingModelError, match="Rebuild the index"):
        OnnxEmbedder.from_export(encoder_dir, "other/model")


def test_manifest_hashes_the_encoder(lean_index_dir):
    files = json.loads((lean_index_dir / "manifest.json").read_text())["files"]
    assert {"onnx/model.onnx", "onnx/tokenizer.json", "onnx/encoder.json"} <= set(files)


_SERVE = """
import json, sys
from advisor.config import Config
from advisor.engine import Advisor
cfg = Config.from_env(index_dir=sys.argv[1], embed_model="packaged:all-MiniLM-L6-v2",
                      embed_backend="onnx", cache_dir=sys.argv[2])
adv = Advisor(cfg)
adv.parts
answer = adv.advise("Which model should I use for sentiment analysis of German reviews?")
heavy = sorted(m for m in ("torch", "sentence_transformers", "transformers") if m in sys.modules)
print(json.dumps({"heavy": heavy, "embedder": type(adv.parts.embedder.inner).__name__,
                  "answer": answer.answer[:200], "hits": len(answer.hits)}))
"""


def test_fresh_interpreter_serves_without_torch(lean_index_dir, tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "ADVISOR_DISABLE_PROGRESS": "1",
           "ADVISOR_LOG_DB": str(tmp_path / "q.sqlite"), "HOME": str(tmp_path)}
    # an empty cache dir: the query encoder must come from the index, not an export
    out = subprocess.run([sys.executable, "-c", _SERVE, str(lean_index_dir), str(tmp_path / "c")],
                         capture_output=True, text=True, cwd=REPO, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["heavy"] == [], res
    assert res["embedder"] == "OnnxEmbedder"
    assert res["answer"].strip() and res["hits"] > 0
    assert not (tmp_path / "c" / "onnx").exists()
