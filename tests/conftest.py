"""Shared test fixtures: a deterministic fake embedder, corpus access, env isolation.

The fake embedder (hashed bag of words, 64 dims) lets index and retrieval tests run in
milliseconds with exact, explainable results; no test downloads a model. Tests that need
real data read small slices from the corpus dir at run time: ``corpus_dir`` skips when
the corpus is absent, except under ``CI=true`` where a missing corpus is a failure.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from bench.proxy_index import HashEmbedder

REPO = Path(__file__).resolve().parents[1]


class FakeEmbedder(HashEmbedder):
    """Each token hashes to one of ``dim`` buckets (signed); rows are L2-normalised (the
    proxy bench's :class:`~bench.proxy_index.HashEmbedder`, small and with its own id).

    Texts sharing words get high cosine similarity, so top-1 assertions are exact.
    ``batch_count`` and ``texts_seen`` let tests assert how much was embedded.
    """

    def __init__(self, dim: int = 64, model_id: str = "fake-hash-64"):
        super().__init__(dim, model_id)
        self.batch_count = 0
        self.texts_seen = 0

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        self.batch_count += (len(texts) + batch_size - 1) // batch_size if len(texts) else 0
        self.texts_seen += len(texts)
        return super().encode(texts, batch_size)


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The real corpus snapshot (``ADVISOR_CORPUS_DIR`` or ../shared/corpus)."""
    path = Path(os.environ.get("ADVISOR_CORPUS_DIR") or REPO.parent / "shared" / "corpus")
    if not (path / "replication" / "codebook_challenges.csv").exists():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Corpus not found at {path}; CI needs it (set ADVISOR_CORPUS_DIR).")
        pytest.skip(f"corpus not found at {path}")
    return path


SESSION_CACHE = "advisor-cache"  # ADVISOR_CACHE_DIR of every test: under the session's base temp


@pytest.fixture(autouse=True)
def _isolate_env(monkeypatch, tmp_path, tmp_path_factory):
    """Keep tests away from the developer's index, log, cache and tokens. The cache dir
    (ONNX export, parsed records, text vectors) is shared by the session's tests, as a
    user's is by their builds, so only the first real-model build embeds the fixed
    training texts."""
    monkeypatch.setenv("ADVISOR_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("ADVISOR_CACHE_DIR", str(tmp_path_factory.getbasetemp() / SESSION_CACHE))
    monkeypatch.setenv("ADVISOR_LOG_DB", str(tmp_path / "querylog.sqlite"))
    monkeypatch.setenv("ADVISOR_DISABLE_PROGRESS", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("ADVISOR_LLM_BACKEND", raising=False)


# --- a small real index, shared by every test that needs one (builder/index owner) ----
SMALL_INDEX_LIMIT = 300  # model cards per model source (2022 cards and 2026 records)


def small_index_config(index_dir: Path, corpus_dir: Path | None = None):
    """The Config the small index is built and loaded with (FakeEmbedder's model id; the
    builder's parsed-records cache beside the index, not in the user's cache)."""
    from advisor.config import Config

    kwargs = {"corpus_dir": corpus_dir} if corpus_dir is not None else {}
    return Config(index_dir=index_dir, embed_model=FakeEmbedder().model_id,
                  cache_dir=Path(index_dir).parent / "cache", disable_progress=True, **kwargs)


@pytest.fixture(scope="session")
def small_index_dir(corpus_dir, tmp_path_factory) -> Path:
    """An index built once per session from a real corpus slice with the FakeEmbedder:
    all taxonomy entries and threads, the first 300 cards of 2022 and 300 models of 2026.
    Treat it as read-only."""
    from builder.pipeline import build

    cfg = small_index_config(tmp_path_factory.mktemp("small-index") / "index", corpus_dir)
    build(cfg, limit=SMALL_INDEX_LIMIT, embedder=FakeEmbedder())
    return cfg.index_dir


@pytest.fixture(scope="session")
def small_index(small_index_dir):
    """``AdvisorIndex`` loaded from ``small_index_dir`` (query embedder: FakeEmbedder)."""
    from advisor.index import AdvisorIndex

    return AdvisorIndex.load(small_index_config(small_index_dir), embedder=FakeEmbedder())
