"""The builder's persistent text-vector cache (builder.vector_cache) and its use by a build."""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import replace

import numpy as np
import pytest

from builder import vector_cache
from builder.vector_cache import CachedEmbedder, cache_path
from tests.conftest import FakeEmbedder, small_index_config

TEXTS = ["CUDA out of memory when fine-tuning", "tokenizer needs sentencepiece",
         "CUDA out of memory when fine-tuning", "whisper hallucinates on silence"]


def test_vectors_equal_the_models_and_only_new_texts_are_embedded(tmp_path):
    fake = FakeEmbedder()
    first = CachedEmbedder(fake, tmp_path)
    out = first.encode(TEXTS)
    np.testing.assert_array_equal(out, FakeEmbedder().encode(TEXTS))
    assert out.dtype == np.float32 and fake.texts_seen == 3  # the repeated text once
    assert (first.hits, first.misses) == (0, 3)
    first.close()

    again = FakeEmbedder()
    second = CachedEmbedder(again, tmp_path)
    mixed = [*TEXTS, "a text never seen"]
    out2 = second.encode(mixed)
    np.testing.assert_array_equal(out2, FakeEmbedder().encode(mixed))
    assert again.texts_seen == 1 and (second.hits, second.misses) == (3, 1)
    assert second.encode([]).shape[0] == 0


def test_a_model_that_is_never_needed_is_never_loaded(tmp_path):
    CachedEmbedder(FakeEmbedder(), tmp_path).encode(TEXTS)

    class Unloadable(FakeEmbedder):
        def encode(self, texts, batch_size=64):
            raise AssertionError("the model was asked to embed cached texts")

    out = CachedEmbedder(Unloadable(), tmp_path).encode(TEXTS[::-1])
    np.testing.assert_array_equal(out, FakeEmbedder().encode(TEXTS[::-1]))


def test_models_and_dimensions_are_kept_apart(tmp_path):
    CachedEmbedder(FakeEmbedder(dim=64), tmp_path).encode(TEXTS)
    other = FakeEmbedder(dim=64, model_id="another-model")
    CachedEmbedder(other, tmp_path).encode(TEXTS)
    assert other.texts_seen == 3  # another model id: another file
    assert cache_path(tmp_path, "fake-hash-64", None) != cache_path(tmp_path, "another-model", None)

    wider = FakeEmbedder(dim=32)  # same id, new dimension: nothing cached is used
    out = CachedEmbedder(wider, tmp_path).encode([*TEXTS, "new"])
    assert out.shape == (5, 32)
    np.testing.assert_array_equal(out, FakeEmbedder(dim=32).encode([*TEXTS, "new"]))


def test_vectors_are_filed_under_the_backend_that_made_them(tmp_path):
    """A lazy build embedder reports the planned backend (bf16) until its first encode,
    where a failed bf16 check falls back to fp32: those vectors belong to fp32's file."""

    class FallsBack(FakeEmbedder):
        backend = "torch-bf16"

        def encode(self, texts, batch_size=64):
            self.backend = "torch"  # the probe on the first texts chose fp32
            return super().encode(texts, batch_size)

    cached = CachedEmbedder(FallsBack(), tmp_path)
    cached.encode(TEXTS)
    cached.encode(["one more text"])
    cached.close()
    fp32 = cache_path(tmp_path, "fake-hash-64", "torch")
    assert fp32.exists() and not cache_path(tmp_path, "fake-hash-64", "torch-bf16").exists()
    with sqlite3.connect(fp32) as db:
        assert db.execute("SELECT COUNT(*) FROM vec").fetchone() == (4,)


def test_a_broken_cache_warns_once_and_the_vectors_still_come(tmp_path, caplog):
    path = cache_path(tmp_path, "fake-hash-64", None)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not a sqlite file" * 100)
    fake = FakeEmbedder()
    cached = CachedEmbedder(fake, tmp_path)
    with caplog.at_level(logging.WARNING, logger="builder.vector_cache"):
        out = cached.encode(TEXTS)
        out2 = cached.encode(TEXTS)
    np.testing.assert_array_equal(out, FakeEmbedder().encode(TEXTS))
    np.testing.assert_array_equal(out2, out)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "embedding without it" in warnings[0].getMessage()
    assert fake.texts_seen == 6


def test_the_oldest_rows_go_past_the_cap(tmp_path, monkeypatch):
    monkeypatch.setattr(vector_cache, "MAX_ROWS", 4)
    cached = CachedEmbedder(FakeEmbedder(), tmp_path)
    cached.encode([f"text {i}" for i in range(3)])
    cached.encode([f"text {i}" for i in range(3, 6)])
    cached.close()
    with sqlite3.connect(cached.path) as db:
        assert db.execute("SELECT COUNT(*) FROM vec").fetchone()[0] == 4
    fresh = FakeEmbedder()
    CachedEmbedder(fresh, tmp_path).encode(["text 0", "text 5"])
    assert fresh.texts_seen == 1  # "text 0" was dropped, "text 5" kept


def test_a_build_into_a_new_folder_takes_the_training_texts_from_the_cache(corpus_dir, tmp_path):
    """The second build embeds only its chunks; its classifier, task and intent models
    and KB vectors are the first build's, byte for byte."""
    from builder.pipeline import build

    cold_cfg = small_index_config(tmp_path / "a" / "index", corpus_dir)
    cold = FakeEmbedder()
    res_cold = build(cold_cfg, limit=20, embedder=cold)
    warm_cfg = replace(small_index_config(tmp_path / "b" / "index", corpus_dir),
                       cache_dir=cold_cfg.cache_dir)
    warm = FakeEmbedder()
    res_warm = build(warm_cfg, limit=20, embedder=warm)

    assert cold.texts_seen > res_cold.embedded_new + 1000  # training texts were embedded
    assert warm.texts_seen == res_warm.embedded_new == res_cold.embedded_new
    for name in ("classifier.npz", "intent.npz", "kb_vectors.npz", "taskmodel.npz"):
        a, b = np.load(cold_cfg.index_dir / name), np.load(warm_cfg.index_dir / name)
        assert a.files == b.files, name
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key], err_msg=f"{name}:{key}")


@pytest.mark.parametrize("text", ["", " ", "\ud800 lone surrogate", "emoji \U0001f600"])
def test_any_python_string_is_a_key(tmp_path, text):
    out = CachedEmbedder(FakeEmbedder(), tmp_path).encode([text, text])
    assert out.shape == (2, 64)
