"""Shared parts of the "try it" snippets (:mod:`advisor.snippets`): the :class:`Snippet`
type, what a record's library, tags and formats mean, the sample-input table
(``prompts/snippet_samples.yaml``), size notes and small helpers. Writes no code itself.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from advisor.datafiles import load_yaml
from advisor.formatting import human_count
from advisor.sizes import DEFAULT_CPU_MAX_PARAMS
from advisor.types import ModelInfo

SAMPLES_FILE = Path(__file__).resolve().parents[1] / "prompts" / "snippet_samples.yaml"
DEFAULT_LANGUAGE = "en"  # every field of the sample table exists in English

# --- size budgets, each with its reason ----------------------------------------------
# cpu_ok() shares the advisor's CPU budget (advisor.tasks): fp32 weights of a 1.5B model
# take ~6 GB, the most a 16 GB laptop runs comfortably with plain PyTorch.
CPU_MAX_PARAMS = DEFAULT_CPU_MAX_PARAMS
# Q4_K_M, the usual GGUF pick, averages ~4.85 bits per weight: ~0.61 bytes per parameter.
GGUF_Q4_BYTES_PER_PARAM = 0.61
# fp16/bf16 weights: what a GPU needs just to hold the model.
FP16_BYTES_PER_PARAM = 2
# Tokens to generate in a demo: enough for two sentences, short enough for a CPU.
DEMO_MAX_NEW_TOKENS = 64

# --- what the record's library / tags / formats mean ----------------------------------
GGUF_LIBRARIES = {"gguf", "llama.cpp", "llama-cpp", "llama-cpp-python", "ggml", "ik_llama.cpp"}
# The repo name says it holds one quantisation only (gguf-my-repo style): match any .gguf.
SINGLE_QUANT_REPO = re.compile(r"[-_](i?q\d[\w]*|f16|bf16|f32)[-_]gguf$", re.IGNORECASE)
GGUF_FILE_PATTERN = "*Q4_K_M.gguf"  # good size/quality trade-off, in most quant repos
MLX_LIBRARIES = {"mlx", "mlx-lm"}
# Weights for a runtime with no Python snippet we can write (JavaScript, ONNX Runtime with
# model-specific pre/post-processing, Core ML, LiteRT...).
NON_PYTHON_LIBRARIES = {"transformers.js", "onnx", "onnxruntime", "onnxruntime-genai",
                        "coreml", "coremltools", "litert", "litert-lm", "openvino"}
# Libraries that hold diffusion weights in a form DiffusionPipeline does not load.
SINGLE_FILE_LIBRARIES = {"diffusion-single-file", "comfyui"}
# Tags that mark a sentence-transformers repo as something other than a dense embedder.
CROSS_ENCODER_TAGS = {"cross-encoder", "crossencoder", "reranker", "text-ranking"}
SPARSE_TAGS = {"sparse-encoder", "sparseencoder", "splade"}
MULTI_VECTOR_TAGS = {"colbert", "multi-vector", "pylate", "colpali", "late-interaction"}
CHAT_TAGS = {"conversational"}
# A model id that names an instruction/chat fine-tune (Qwen2.5-0.5B-Instruct, gemma-2-it).
CHAT_ID = re.compile(r"(instruct|[-_]chat\b|[-_]chat[-_]|[-_]it\b|[-_]it[-_])", re.IGNORECASE)
# Architectures whose legacy "conversational" models are encoder-decoders (BlenderBot...).
SEQ2SEQ_ARCH_TAGS = {"blenderbot", "blenderbot-small", "blenderbot_small", "t5", "mt5",
                     "bart", "mbart", "pegasus", "marian", "encoder-decoder", "led",
                     "prophetnet", "m2m_100", "fsmt", "longt5", "bigbird_pegasus"}
MULTILINGUAL_MARKERS = {"multilingual", "mul", "xx"}

# Libraries whose models we know but write no code for: the note says where to look.
CARD_ONLY_REASONS: dict[str, str] = {
    "spacy": "spaCy pipelines install as a wheel from the repo; the card gives the pip line",
    "stanza": "Stanza downloads its own language packages; see the card",
    "espnet": "ESPnet models need the ESPnet recipe tools; see the card",
    "speechbrain": "SpeechBrain's loader class depends on the model (see its hyperparams.yaml)",
    "fairseq": "fairseq checkpoints need the matching task and dictionary files",
    "fairseq2": "fairseq2 models need their own asset cards",
    "asteroid": "Asteroid models need the asteroid toolkit; see the card",
    "pyannote": "pyannote pipelines are gated and need an access token",
    "pyannote-audio": "pyannote pipelines are gated and need an access token",
    "ultralytics": "Ultralytics repos name their .pt file differently; see the card",
    "adapter-transformers": "adapters load on top of a base model named in the card",
    "vllm": "a vLLM serving setup needs a GPU server",
    "sglang": "an SGLang serving setup needs a GPU server",
    "paddlenlp": "PaddlePaddle models need the Paddle toolkit",
    "kerasformers": "kerasformers is a community Keras port; see the card",
    "stable-baselines3": "reinforcement-learning agents need their environment",
    "ml-agents": "Unity ML-Agents models run inside a Unity environment",
    "lerobot": "LeRobot policies need a robot or a simulator",
}

# transformers 5 pipelines we write code for; each maps to how the sample is passed.
# (question-answering, summarization, translation, text2text-generation, image-to-text,
# visual-question-answering and conversational have no pipeline in transformers 5.)
PIPELINE_TASKS = {
    "text-classification", "token-classification", "fill-mask", "zero-shot-classification",
    "feature-extraction", "text-generation", "image-text-to-text",
    "automatic-speech-recognition", "audio-classification", "text-to-speech", "text-to-audio",
    "image-classification", "object-detection", "image-segmentation", "depth-estimation",
    "zero-shot-image-classification", "zero-shot-object-detection", "image-feature-extraction",
    "table-question-answering",
}
# Legacy Hub task tags and the pipeline that runs such models today.
# pipeline("conversational") was removed in transformers 4.42; DialoGPT-style models are
# causal LMs that the text-generation pipeline runs.
LEGACY_PIPELINE_TASKS = {"conversational": "text-generation"}
SEQ2SEQ_TASKS = {"summarization", "translation", "text2text-generation"}
EMBEDDING_TASKS = {"feature-extraction", "sentence-similarity"}
IMAGE_TASKS = {"image-classification", "object-detection", "image-segmentation",
               "depth-estimation", "zero-shot-image-classification",
               "zero-shot-object-detection", "image-feature-extraction", "image-text-to-text"}
AUDIO_IN_TASKS = {"automatic-speech-recognition", "audio-classification"}
DIFFUSERS_TASKS = {"text-to-image", "image-to-image", "text-to-video", "image-to-video"}
MARIAN_ID = re.compile(r"opus-mt-([a-z]{2,3})-([a-z]{2,3})\b", re.IGNORECASE)


@dataclass
class Snippet:
    """Runnable "try it" code for one model.

    ``runner`` names what runs it ("transformers.pipeline", "sentence-transformers",
    "llama-cpp-python", ...; "<library> (see card)" when there is no code). ``needs`` is
    the pip install list. ``note`` is one or two sentences for the reader: size / CPU
    advice, what to check before running, why there is no code. ``language`` is the
    language of the sample input actually used.
    """

    code: str
    runner: str
    needs: list[str] = field(default_factory=list)
    note: str = ""
    language: str = DEFAULT_LANGUAGE


# --- sample table ---------------------------------------------------------------------
@lru_cache(maxsize=4)
def load_samples(path: Path = SAMPLES_FILE) -> dict[str, Any]:
    """The YAML sample table: ``{"shared": {...}, "languages": {code: {field: value}}}``."""
    data = load_yaml(Path(path).read_text(encoding="utf-8"))
    if DEFAULT_LANGUAGE not in data.get("languages", {}):
        raise ValueError(f"{path} has no '{DEFAULT_LANGUAGE}' block: it is every field's fallback.")
    return data


def norm_lang(code: str | None) -> str:
    return re.split(r"[-_]", (code or "").strip().lower())[0]


def samples_for(language: str | None) -> dict[str, Any]:
    """Sample fields for ``language`` (missing language or field -> English)."""
    table = load_samples()
    out = dict(table["languages"][DEFAULT_LANGUAGE])
    out.update(table["languages"].get(norm_lang(language), {}) or {})
    out.update(table.get("shared", {}))
    return out


def sample_language(model: ModelInfo, language: str | None) -> str:
    """The language the sample is written in: the request's when the model covers it.

    A model that lists its languages and not the request's one gets a sample in its own
    first language (a Spanish sentence through an English sentiment model demos nothing);
    a language missing from the table falls back to English.
    """
    known = load_samples()["languages"]
    want = norm_lang(language) or DEFAULT_LANGUAGE
    model_langs = [norm_lang(x) for x in model.languages if x]
    if model_langs and want not in model_langs and not MULTILINGUAL_MARKERS & set(model_langs):
        want = next((x for x in model_langs if x in known), DEFAULT_LANGUAGE)
    return want if want in known else DEFAULT_LANGUAGE


# --- size -----------------------------------------------------------------------------
def cpu_ok(model: ModelInfo) -> bool:
    """True only when the parameter count is known and within :data:`CPU_MAX_PARAMS`."""
    return model.parameters is not None and 0 < model.parameters <= CPU_MAX_PARAMS


def size_note(model: ModelInfo, runner: str) -> str:
    p = model.parameters
    if not p or p <= 0:
        return "Size unknown: check the file sizes on the model page before downloading."
    if runner == "llama-cpp-python":
        gb = p * GGUF_Q4_BYTES_PER_PARAM / 1e9
        return f"~{human_count(p)} parameters: the Q4_K_M file needs about {gb:.1f} GB of RAM."
    if cpu_ok(model):
        return f"~{human_count(p)} parameters: runs on a laptop CPU."
    gb = p * FP16_BYTES_PER_PARAM / 1e9
    return (f"~{human_count(p)} parameters: too big for a laptop CPU; needs a GPU with more than "
            f"{gb:.0f} GB in fp16, or a quantised build.")


# --- helpers --------------------------------------------------------------------------
def lit(value: Any) -> str:
    """A Python literal for a string or a list of strings (JSON's syntax is valid Python)."""
    return json.dumps(value, ensure_ascii=False)


def tags_of(model: ModelInfo) -> set[str]:
    return {t.lower() for t in model.tags if isinstance(t, str)}


def is_chat(model: ModelInfo) -> bool:
    """A model that takes a messages list through its chat template.

    Chat templates arrived in transformers 4.34 (Oct 2023): in the Feb 2022 snapshot the
    "conversational" tag means the legacy task (DialoGPT, BlenderBot), not a template.
    """
    if model.source == "2022":
        return False
    return bool(CHAT_TAGS & tags_of(model)) or bool(CHAT_ID.search(model.id.split("/")[-1]))


def is_gguf(model: ModelInfo) -> bool:
    lib = (model.library or "").lower()
    return lib in GGUF_LIBRARIES or "gguf" in {f.lower() for f in model.formats} or "gguf" in tags_of(model)


def resolve_task(model: ModelInfo, task: str | None) -> str | None:
    """The task the snippet demonstrates: the model's own tag wins over the request's.

    Running a model through another task's head is the classic beginner failure (a chat
    model in a classification pipeline), so the request's ``task`` is used only when the
    model has no ``pipeline_tag`` and its tags name that task.
    """
    if model.pipeline_tag:
        return model.pipeline_tag
    if task and task.lower() in tags_of(model):
        return task
    return None


def no_snippet(model: ModelInfo, reason: str, language: str) -> Snippet:
    lib = model.library or "unknown library"
    return Snippet(code="", runner=f"{lib} (see card)", needs=[],
                   note=f"No snippet: {reason}. Follow the usage section of {model.url}",
                   language=language)


def remote_code_arg(model: ModelInfo) -> str:
    """``, trust_remote_code=True`` for repos that ship their own modelling code."""
    return ", trust_remote_code=True" if "custom_code" in tags_of(model) else ""


REMOTE_CODE_WARNING = ("This repo runs its own Python code (trust_remote_code=True): read "
                       "the .py files on the model page before running it.")
