"""A full-size *proxy* index for query-time benches when the real build is not done yet.

Runs :func:`builder.pipeline.build` over the whole corpus snapshot with a hashed
bag-of-words embedder (dim 384, the shape of MiniLM) that reports MiniLM's model id, so
the index has the real chunks (chunked with MiniLM's tokenizer), the real BM25 index,
side tables and classifier files, and vectors of the right count and dimension, in a
few minutes instead of the ~20-minute embedding stage. The real MiniLM still embeds the
queries when the engine or app loads it.

Valid for: latency, load/ready time, memory and on-disk size (they do not depend on the
vector values), BM25-only retrieval quality, the Hub-downloads baseline. **Not** valid
for dense or hybrid retrieval quality or the recommender's hit rate. It writes only under
``bench/out/`` (gitignored), with a ``PROXY_FAKE_VECTORS`` marker file; never use it as
``index/``.

Run: ``python -m bench.proxy_index`` (writes ``bench/out/proxy-index/``).
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # `python bench/proxy_index.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import DEFAULT_CORPUS_DIR, OUT_DIR, setup_logging

log = logging.getLogger(__name__)

DEFAULT_PROXY_DIR = OUT_DIR / "proxy-index"
MARKER = "PROXY_FAKE_VECTORS"
_TOKEN = re.compile(r"[a-z0-9]+")


class HashEmbedder:
    """Signed hashed bag of words, L2-normalised; claims ``model_id`` (see module doc)."""

    def __init__(self, dim: int = 384, model_id: str = "packaged:all-MiniLM-L6-v2"):
        self.dim = dim
        self.model_id = model_id

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)  # (n, dim)
        for i, text in enumerate(texts):
            for tok in _TOKEN.findall(text.lower()):
                h = int.from_bytes(hashlib.md5(tok.encode()).digest()[:4], "little")
                out[i, h % self.dim] += 1.0 if (h >> 31) & 1 else -1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return out / norms


def main(out_dir: Path = DEFAULT_PROXY_DIR, corpus_dir: Path = DEFAULT_CORPUS_DIR,
         limit: int | None = None) -> Path:
    from advisor.config import Config
    from builder.pipeline import build

    emb = HashEmbedder()
    cfg = Config(index_dir=Path(out_dir), corpus_dir=Path(corpus_dir),
                 embed_model=emb.model_id, disable_progress=True)
    res = build(cfg, limit=limit, embedder=emb)
    (Path(out_dir) / MARKER).write_text("vectors come from bench.proxy_index.HashEmbedder\n")
    print(res.summary())
    return Path(out_dir)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_PROXY_DIR)
    ap.add_argument("--limit", type=int)
    a = ap.parse_args()
    setup_logging()
    main(a.out, limit=a.limit)
