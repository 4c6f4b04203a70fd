"""Embedding throughput: raw sentence-transformers vs our builder path vs ONNX Runtime.

On one fixed sample of real chunk texts (rows of a built ``index/store.sqlite``, which
are exactly what :mod:`builder.chunk` produced; else card-text pieces read from the
corpus at run time) this measures, each in texts/s:

* ``raw``: ``SentenceTransformer.encode`` of the packaged MiniLM, one call, batch 64;
* ``builder``: :func:`builder.embed.embed_chunks` on the same texts (budget: at most
  1.2x the raw time);
* a batch-size sweep (32/64/128) and the effect of length sorting (sentence-transformers
  sorts each ``encode`` call by length; "unsorted" sends shuffled batches one call each);
* torch under CPU bfloat16 autocast (the builder's default where the CPU has native
  bf16: :func:`builder.embed.build_backend`), with the same quality columns;
* ONNX Runtime fp32 and int8 (dynamic quantisation) of the same weights, exported
  locally from the packaged model with ``torch.onnx.export`` (no network). Quality is the
  row-wise cosine between ONNX and torch vectors and retrieval overlap@10 (same queries,
  same texts, top-10 by each backend's vectors).

Why not ``SentenceTransformer(..., backend="onnx")``: in sentence-transformers 6.2 it
needs ``optimum-onnx[onnxruntime]``, whose release pins ``transformers<4.58`` (we run
5.x), so installing it would downgrade the project's transformers. The ONNX path here
needs only ``onnxruntime`` (and ``onnx`` for quantisation); when they are not importable
the ONNX rows are skipped with a note. This script changes no project code; it reports
what should change.

Run: ``python -m bench.encoder`` (2,000 texts, ~5 min on 2 cores) or
``python -m bench.encoder --n 200 --no-onnx`` for a quick look.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import logging
import sqlite3
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # `python bench/encoder.py`: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import (
    DEFAULT_CORPUS_DIR,
    DEFAULT_INDEX_DIR,
    OUT_DIR,
    md_table,
    setup_logging,
    write_result,
)

log = logging.getLogger(__name__)

DEFAULT_N_TEXTS = 2000
DEFAULT_N_QUERIES = 300  # dev questions first, then held-out chunk openings
DEFAULT_BATCHES = (32, 64, 128)
DEFAULT_BATCH = 64  # advisor.config.DEFAULT_EMBED_BATCH
DEFAULT_OVERLAP_K = 10
DEFAULT_ONNX_OPSET = 17
# Where `pip install --target bench/out/onnx-site onnxruntime onnx` puts the optional
# packages without touching the project's environment (see bench/README.md).
ONNX_SITE = OUT_DIR / "onnx-site"
DEV_QUESTIONS = Path(__file__).resolve().parents[1] / "eval" / "dev_questions.jsonl"
_FALLBACK_WORDS = 100  # ~128 tokens: the size of a real chunk


# --- the sample -----------------------------------------------------------------------
def sample_texts(
    n: int, index_dir: Path | None = DEFAULT_INDEX_DIR, corpus_dir: Path = DEFAULT_CORPUS_DIR,
    seed: int = 0,
) -> tuple[list[str], str]:
    """``n`` chunk texts (a fixed random sample) and where they came from."""
    store = Path(index_dir) / "store.sqlite" if index_dir is not None else None
    if store is not None and store.exists():
        con = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
        try:
            total = con.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
            rows = np.random.default_rng(seed).choice(total, min(n, total), replace=False)
            texts = [
                con.execute("SELECT text FROM chunks WHERE row = ?", (int(r),)).fetchone()[0]
                for r in sorted(rows.tolist())
            ]
        finally:
            con.close()
        return texts, f"{store} ({total:,} chunks)"
    try:
        return _chunked_cards(n, corpus_dir, seed), f"builder.chunk over {corpus_dir} cards"
    except ImportError as e:  # builder not importable: plain card pieces still measure speed
        log.warning("builder.chunk unavailable (%s); using card pieces", e)
    return _card_pieces(n, corpus_dir), f"{corpus_dir}/model_cards_2022.jsonl.gz pieces"


def _chunked_cards(n: int, corpus_dir: Path, seed: int) -> list[str]:
    """Before an index exists: builder.chunk's chunks of the first 2022 + 2026 records,
    a fixed random sample of ``n`` (read at run time; nothing is stored)."""
    from itertools import chain

    from advisor.config import Config
    from builder.chunk import chunk_documents
    from builder.report import SourceReport
    from builder.sources.cards2022 import read_cards

    # 4 cards per wanted chunk: the sample spans many cards, not the first few dozen
    cards = read_cards(Path(corpus_dir) / "model_cards_2022.jsonl.gz",
                       SourceReport("cards2022"), limit=max(50, 4 * n))
    docs = (doc for _, doc in cards)
    texts = [c.text for c in chunk_documents(chain(docs), Config(corpus_dir=Path(corpus_dir)))]
    if len(texts) > n:
        keep = np.sort(np.random.default_rng(seed).choice(len(texts), n, replace=False))
        texts = [texts[i] for i in keep]
    return texts


def _card_pieces(n: int, corpus_dir: Path) -> list[str]:
    """Fallback before an index exists: ~128-token pieces of real 2022 model cards."""
    out: list[str] = []
    with gzip.open(Path(corpus_dir) / "model_cards_2022.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            words = (json.loads(line).get("card") or "").split()
            for start in range(0, min(len(words), 3 * _FALLBACK_WORDS), _FALLBACK_WORDS):
                piece = " ".join(words[start : start + _FALLBACK_WORDS])
                if len(piece) > 40:
                    out.append(piece)
            if len(out) >= n:
                break
    return out[:n]


def sample_queries(n: int, held_out: Sequence[str]) -> list[str]:
    """Dev-set questions, topped up with the first sentence-ish of held-out texts."""
    qs: list[str] = []
    if DEV_QUESTIONS.exists():
        for line in DEV_QUESTIONS.read_text().splitlines():
            if line.strip():
                qs.append(json.loads(line)["question"])
    qs += [t[:160] for t in held_out]
    return qs[:n]


# --- the ONNX path ------------------------------------------------------------------------
def _import_onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        if ONNX_SITE.exists() and str(ONNX_SITE) not in sys.path:
            sys.path.append(str(ONNX_SITE))  # appended: never shadows project packages
        import onnxruntime
    return onnxruntime


def export_onnx(model_dir: str, out_dir: Path, quantize: bool) -> Path:
    """Export the packaged MiniLM's transformer to ONNX (fp32), optionally int8-quantised."""
    import torch
    from transformers import AutoModel

    _import_onnxruntime()  # also makes `onnx` importable from bench/out/onnx-site
    out_dir.mkdir(parents=True, exist_ok=True)
    fp32 = out_dir / "model.onnx"
    if not fp32.exists():
        model = AutoModel.from_pretrained(model_dir).eval()

        class _Hidden(torch.nn.Module):  # keyword call: BertModel's positional order moved
            def __init__(self, inner):
                super().__init__()
                self.inner = inner

            def forward(self, input_ids, attention_mask, token_type_ids):
                return self.inner(input_ids=input_ids, attention_mask=attention_mask,
                                  token_type_ids=token_type_ids).last_hidden_state

        dummy = torch.ones((2, 16), dtype=torch.long)
        torch.onnx.export(
            _Hidden(model),
            (dummy, dummy, torch.zeros_like(dummy)),
            str(fp32),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["last_hidden_state"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "seq"},
                "attention_mask": {0: "batch", 1: "seq"},
                "token_type_ids": {0: "batch", 1: "seq"},
                "last_hidden_state": {0: "batch", 1: "seq"},
            },
            opset_version=DEFAULT_ONNX_OPSET,
            dynamo=False,  # the TorchScript exporter needs no onnxscript
        )
    if not quantize:
        return fp32
    int8 = out_dir / "model_int8.onnx"
    if not int8.exists():
        _import_onnxruntime()
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True)
    return int8


@dataclass
class OnnxEmbedder:
    """Same contract as :class:`advisor.embedding.Embedder`: mean pooling + L2 norm."""

    model_id: str
    dim: int
    session: object
    tokenizer: object
    max_seq_length: int

    @classmethod
    def create(cls, model_dir: str, onnx_path: Path, max_seq_length: int, dim: int):
        ort = _import_onnxruntime()
        from transformers import AutoTokenizer

        opts = ort.SessionOptions()
        sess = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
        return cls(
            model_id=f"onnx:{onnx_path.name}", dim=dim, session=sess,
            tokenizer=AutoTokenizer.from_pretrained(model_dir), max_seq_length=max_seq_length,
        )

    def encode(self, texts: Sequence[str], batch_size: int = DEFAULT_BATCH) -> np.ndarray:
        order = np.argsort([-len(t) for t in texts], kind="stable")  # as sentence-transformers
        out = np.zeros((len(texts), self.dim), dtype=np.float32)  # (n, dim)
        for start in range(0, len(texts), batch_size):
            idx = order[start : start + batch_size]
            enc = self.tokenizer(
                [texts[i] for i in idx], padding=True, truncation=True,
                max_length=self.max_seq_length, return_tensors="np",
            )
            feeds = {k: enc[k].astype(np.int64) for k in
                     ("input_ids", "attention_mask", "token_type_ids")}
            hidden = self.session.run(None, feeds)[0]  # (b, seq, dim)
            mask = feeds["attention_mask"][..., None].astype(np.float32)
            pooled = (hidden * mask).sum(1) / np.clip(mask.sum(1), 1e-9, None)
            out[idx] = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
        return out


# --- measurements ---------------------------------------------------------------------------
def _rate(n: int, seconds: float) -> float:
    return round(n / seconds, 1) if seconds > 0 else float("nan")


def overlap_at_k(base_a, q_a, base_b, q_b, k: int = DEFAULT_OVERLAP_K) -> float:
    """Mean share of top-k rows two backends agree on for the same queries."""
    k = min(k, base_a.shape[0])
    top_a = np.argsort(-(q_a @ base_a.T), axis=1)[:, :k]
    top_b = np.argsort(-(q_b @ base_b.T), axis=1)[:, :k]
    return round(float(np.mean([len(set(a) & set(b)) / k for a, b in
                                zip(top_a, top_b, strict=True)])), 4)


def _builder_embed(texts: Sequence[str], embedder, batch: int) -> tuple[np.ndarray, float]:
    """Our build path on ``texts`` (fresh: nothing to reuse); returns (vectors, seconds)."""
    from advisor.config import Config
    from advisor.types import Chunk
    from builder.embed import embed_chunks

    chunks = [
        Chunk(id=f"bench#{i}", doc_id="bench", kind="model", title="", text=t, url="",
              content_hash=hashlib.sha1(f"{i}:{t}".encode()).hexdigest())
        for i, t in enumerate(texts)
    ]
    cfg = Config(embed_batch=batch, disable_progress=True)
    t0 = time.perf_counter()
    res = embed_chunks(chunks, embedder, cfg)
    return res.vectors, time.perf_counter() - t0


def main(
    n_texts: int = DEFAULT_N_TEXTS,
    n_queries: int = DEFAULT_N_QUERIES,
    batches: Sequence[int] = DEFAULT_BATCHES,
    onnx: bool = True,
    index_dir: Path | None = DEFAULT_INDEX_DIR,
    corpus_dir: Path = DEFAULT_CORPUS_DIR,
    embedder=None,
    out_dir: Path | None = None,
) -> dict:
    """Run every comparison; ``embedder`` (tests: FakeEmbedder) skips model loading."""
    from advisor.embedding import get_embedder, resolve_model_path

    texts, source = sample_texts(n_texts + n_queries, index_dir, corpus_dir)
    base, held = texts[:n_texts], texts[n_texts:]
    queries = sample_queries(n_queries, held)
    n = len(base)
    emb = embedder or get_embedder("packaged:all-MiniLM-L6-v2")
    raw_encode = getattr(getattr(emb, "_model", None), "encode", None)

    def raw(ts: Sequence[str], bs: int) -> np.ndarray:
        if raw_encode is None:  # a fake embedder: its encode is the raw call
            return emb.encode(list(ts), batch_size=bs)
        return raw_encode(list(ts), batch_size=bs, normalize_embeddings=True,
                          convert_to_numpy=True, show_progress_bar=False)

    raw(base[:32], DEFAULT_BATCH)  # warm-up: first call pays one-off allocations
    rows: list[dict] = []
    t0 = time.perf_counter()
    torch_vecs = np.asarray(raw(base, DEFAULT_BATCH), dtype=np.float32)
    raw_s = time.perf_counter() - t0
    rows.append({"path": f"raw encode (batch {DEFAULT_BATCH}, sorted)", "seconds": round(raw_s, 2),
                 "texts_per_s": _rate(n, raw_s), "vs_raw": 1.0})
    builder_vecs, builder_s = _builder_embed(base, emb, DEFAULT_BATCH)
    rows.append({"path": f"builder.embed.embed_chunks (batch {DEFAULT_BATCH})",
                 "seconds": round(builder_s, 2), "texts_per_s": _rate(n, builder_s),
                 "vs_raw": round(builder_s / raw_s, 3)})
    builder_cos = float(np.min(np.sum(builder_vecs * torch_vecs, axis=1)))
    for bs in batches:
        if bs == DEFAULT_BATCH:
            continue
        t0 = time.perf_counter()
        raw(base, bs)
        s = time.perf_counter() - t0
        rows.append({"path": f"raw encode (batch {bs}, sorted)", "seconds": round(s, 2),
                     "texts_per_s": _rate(n, s), "vs_raw": round(s / raw_s, 3)})
    shuffled = [base[i] for i in np.random.default_rng(1).permutation(n)]
    t0 = time.perf_counter()
    for start in range(0, n, DEFAULT_BATCH):  # one call per batch: no cross-batch sorting
        raw(shuffled[start : start + DEFAULT_BATCH], DEFAULT_BATCH)
    s = time.perf_counter() - t0
    rows.append({"path": f"raw encode (batch {DEFAULT_BATCH}, unsorted)", "seconds": round(s, 2),
                 "texts_per_s": _rate(n, s), "vs_raw": round(s / raw_s, 3)})

    q_torch = np.asarray(raw(queries, DEFAULT_BATCH), dtype=np.float32)
    quality: list[dict] = []
    notes: list[str] = []

    def compare(label: str, enc) -> dict:
        """Time ``enc`` (warmed up) on the sample, add its row; its quality against torch."""
        enc.encode(base[:32])
        t0 = time.perf_counter()
        vecs = enc.encode(base, DEFAULT_BATCH)
        s = time.perf_counter() - t0
        cos = np.sum(vecs * torch_vecs, axis=1)
        rows.append({"path": f"{label} (batch {DEFAULT_BATCH})", "seconds": round(s, 2),
                     "texts_per_s": _rate(n, s), "vs_raw": round(s / raw_s, 3)})
        return {
            "backend": label,
            "speedup_vs_torch": round(raw_s / s, 2),
            "cos_mean": round(float(cos.mean()), 5),
            "cos_min": round(float(cos.min()), 5),
            f"overlap@{DEFAULT_OVERLAP_K}": overlap_at_k(
                torch_vecs, q_torch, vecs, enc.encode(queries, DEFAULT_BATCH)),
        }

    if embedder is None:  # the builder's default on a CPU with native bf16
        from advisor.embedding import BF16_BACKEND, native_bf16

        bf = get_embedder("packaged:all-MiniLM-L6-v2", BF16_BACKEND)
        quality.append({**compare("torch bf16 autocast", bf), "export_s": 0.0, "model_mib": None,
                        "backend": f"torch bf16 autocast (native bf16: {native_bf16()})"})
    if onnx and embedder is None:
        try:
            model_dir = resolve_model_path("packaged:all-MiniLM-L6-v2")
            max_len = int(emb._model.max_seq_length)
            work = Path(tempfile.mkdtemp(prefix="bench-onnx-"))
            for label, quant in (("onnxruntime fp32", False), ("onnxruntime int8 dynamic", True)):
                t_exp = time.perf_counter()
                path = export_onnx(model_dir, work, quantize=quant)
                export_s = time.perf_counter() - t_exp
                oe = OnnxEmbedder.create(model_dir, path, max_len, emb.dim)
                quality.append({**compare(label, oe), "export_s": round(export_s, 1),
                                "model_mib": round(path.stat().st_size / 2**20, 1)})
        except ImportError as e:
            notes.append(f"ONNX rows skipped: {e}. Install with "
                         "`pip install --target bench/out/onnx-site onnxruntime onnx`.")
            log.warning(notes[-1])
    result = {
        "source": source, "n_texts": n, "n_queries": len(queries),
        "mean_chars": round(float(np.mean([len(t) for t in base])), 1),
        "rows": rows, "quality": quality, "builder_min_cos_vs_raw": round(builder_cos, 5),
        "notes": notes,
    }
    result["path"] = str(write_result("encoder", result, out_dir))
    print(f"{n:,} texts from {source}, mean {result['mean_chars']} chars\n")
    print(md_table(rows))
    if quality:
        print()
        print(md_table(quality))
    return result


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=DEFAULT_N_TEXTS, help="texts to embed")
    ap.add_argument("--queries", type=int, default=DEFAULT_N_QUERIES)
    ap.add_argument("--no-onnx", action="store_true")
    ap.add_argument("--index-dir", type=Path, default=DEFAULT_INDEX_DIR)
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    setup_logging(a.verbose)
    main(n_texts=a.n, n_queries=a.queries, onnx=not a.no_onnx, index_dir=a.index_dir)
