"""The "try it" code shown beside a recommended model: code that runs, or none at all.

:func:`make_snippet` picks a *runner* from what the record says about the repo (library,
tags, weight formats, size) and the task, then writes a short program with a sample
input in the request's language. It covers:

- ``transformers.pipeline`` for the tasks the installed transformers 5 still has a
  pipeline for (:data:`PIPELINE_TASKS`), with chat messages for chat/instruct models;
- ``transformers`` Auto classes where transformers 5 dropped the pipeline (seq2seq
  generation, extractive QA);
- ``sentence-transformers`` (embeddings), its ``CrossEncoder`` (rerankers) and
  ``SparseEncoder`` (SPLADE);
- ``llama-cpp-python`` for GGUF files, ``diffusers`` for diffusion pipelines, ``mlx-lm``
  on Apple silicon, ``keras-hub`` presets and Keras 3 models;
- the one-call loaders of ``timm``, ``open_clip``, ``flair``, ``nemo``, ``setfit`` and
  ``peft`` adapters, for the task each is sure to handle.

What it does not do: it never guesses. A library without a loader we are sure of
(spaCy, ESPnet, SpeechBrain, fairseq, ultralytics, ONNX-only or transformers.js repos,
ComfyUI single files, ...), a task we cannot demo, or a record with no task and no
library gives no code; :func:`plan_snippet` still says why and points at the model card.
It reads no files but the sample table ``prompts/snippet_samples.yaml``, imports none of
the libraries it writes code for, and checks nothing online (repo file lists, configs):
the notes say where a snippet may still need a hand (e.g. the GGUF file name).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from advisor.tasks import DEFAULT_CPU_MAX_PARAMS
from advisor.types import ModelInfo

log = logging.getLogger(__name__)

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
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if DEFAULT_LANGUAGE not in data.get("languages", {}):
        raise ValueError(f"{path} has no '{DEFAULT_LANGUAGE}' block: it is every field's fallback.")
    return data


def _norm_lang(code: str | None) -> str:
    return re.split(r"[-_]", (code or "").strip().lower())[0]


def samples_for(language: str | None) -> dict[str, Any]:
    """Sample fields for ``language`` (missing language or field -> English)."""
    table = load_samples()
    out = dict(table["languages"][DEFAULT_LANGUAGE])
    out.update(table["languages"].get(_norm_lang(language), {}) or {})
    out.update(table.get("shared", {}))
    return out


def sample_language(model: ModelInfo, language: str | None) -> str:
    """The language the sample is written in: the request's when the model covers it.

    A model that lists its languages and not the request's one gets a sample in its own
    first language (a Spanish sentence through an English sentiment model demos nothing);
    a language missing from the table falls back to English.
    """
    known = load_samples()["languages"]
    want = _norm_lang(language) or DEFAULT_LANGUAGE
    model_langs = [_norm_lang(x) for x in model.languages if x]
    if model_langs and want not in model_langs and not MULTILINGUAL_MARKERS & set(model_langs):
        want = next((x for x in model_langs if x in known), DEFAULT_LANGUAGE)
    return want if want in known else DEFAULT_LANGUAGE


# --- size -----------------------------------------------------------------------------
def cpu_ok(model: ModelInfo) -> bool:
    """True only when the parameter count is known and within :data:`CPU_MAX_PARAMS`."""
    return model.parameters is not None and 0 < model.parameters <= CPU_MAX_PARAMS


def _human(n: int) -> str:
    return f"{n / 1e9:.1f}B" if n >= 1e9 else f"{n / 1e6:.0f}M"


def _size_note(model: ModelInfo, runner: str) -> str:
    p = model.parameters
    if not p or p <= 0:
        return "Size unknown: check the file sizes on the model page before downloading."
    if runner == "llama-cpp-python":
        gb = p * GGUF_Q4_BYTES_PER_PARAM / 1e9
        return f"~{_human(p)} parameters: the Q4_K_M file needs about {gb:.1f} GB of RAM."
    if cpu_ok(model):
        return f"~{_human(p)} parameters: runs on a laptop CPU."
    gb = p * FP16_BYTES_PER_PARAM / 1e9
    return (f"~{_human(p)} parameters: too big for a laptop CPU; needs a GPU with more than "
            f"{gb:.0f} GB in fp16, or a quantised build.")


# --- helpers --------------------------------------------------------------------------
def _lit(value: Any) -> str:
    """A Python literal for a string or a list of strings (JSON's syntax is valid Python)."""
    return json.dumps(value, ensure_ascii=False)


def _tags(model: ModelInfo) -> set[str]:
    return {t.lower() for t in model.tags if isinstance(t, str)}


def _is_chat(model: ModelInfo) -> bool:
    """A model that takes a messages list through its chat template.

    Chat templates arrived in transformers 4.34 (Oct 2023): in the Feb 2022 snapshot the
    "conversational" tag means the legacy task (DialoGPT, BlenderBot), not a template.
    """
    if model.source == "2022":
        return False
    return bool(CHAT_TAGS & _tags(model)) or bool(CHAT_ID.search(model.id.split("/")[-1]))


def _is_gguf(model: ModelInfo) -> bool:
    lib = (model.library or "").lower()
    return lib in GGUF_LIBRARIES or "gguf" in {f.lower() for f in model.formats} or "gguf" in _tags(model)


def resolve_task(model: ModelInfo, task: str | None) -> str | None:
    """The task the snippet demonstrates: the model's own tag wins over the request's.

    Running a model through another task's head is the classic beginner failure (a chat
    model in a classification pipeline), so the request's ``task`` is used only when the
    model has no ``pipeline_tag`` and its tags name that task.
    """
    if model.pipeline_tag:
        return model.pipeline_tag
    if task and task.lower() in _tags(model):
        return task
    return None


def _none(model: ModelInfo, reason: str, language: str) -> Snippet:
    lib = model.library or "unknown library"
    return Snippet(code="", runner=f"{lib} (see card)", needs=[],
                   note=f"No snippet: {reason}. Follow the usage section of {model.url}",
                   language=language)


def _rc(model: ModelInfo) -> str:
    """``, trust_remote_code=True`` for repos that ship their own modelling code."""
    return ", trust_remote_code=True" if "custom_code" in _tags(model) else ""


REMOTE_CODE_WARNING = ("This repo runs its own Python code (trust_remote_code=True): read "
                       "the .py files on the model page before running it.")


# --- runners --------------------------------------------------------------------------
def _gguf(model: ModelInfo, task: str | None, s: dict[str, Any], lang: str) -> Snippet:
    chat = _is_chat(model)
    if task in EMBEDDING_TASKS:
        mode = "embed"
    elif task in ("text-generation", "image-text-to-text", "conversational") or (task is None and chat):
        mode = "chat" if chat or task in ("image-text-to-text", "conversational") else "complete"
    else:
        what = task or "an unknown task"
        return _none(model, f"a GGUF file for {what}; llama-cpp-python runs text models only, "
                     "and this repo names another runner", lang)
    pattern = "*.gguf" if SINGLE_QUANT_REPO.search(model.id) else GGUF_FILE_PATTERN
    head = [
        "from llama_cpp import Llama",
        "",
        "# Llama.from_pretrained downloads the one file matching `filename` (a glob).",
        "llm = Llama.from_pretrained(",
        f"    repo_id={_lit(model.id)},",
        f"    filename={_lit(pattern)},",
    ]
    if mode == "embed":
        body = head + ["    embedding=True,", ")",
                       f"vectors = llm.embed({_lit(s['sentences'])})",
                       "print(len(vectors), len(vectors[0]))"]
    elif mode == "chat":
        body = head + [")",
                       f'messages = [{{"role": "user", "content": {_lit(s["chat"])}}}]',
                       f"out = llm.create_chat_completion(messages=messages, max_tokens={DEMO_MAX_NEW_TOKENS * 4})",
                       'print(out["choices"][0]["message"]["content"])']
    else:
        body = head + [")", f"out = llm({_lit(s['story'])}, max_tokens={DEMO_MAX_NEW_TOKENS})",
                       'print(out["choices"][0]["text"])']
    note = [_size_note(model, "llama-cpp-python"),
            f"If no file matches {pattern!r} (or several do, e.g. split shards), put one "
            "file name from the repo's Files tab in `filename`."]
    if task == "image-text-to-text":
        note.append("This chats in text only; images also need the repo's mmproj file "
                    "and a multimodal chat handler.")
    return Snippet("\n".join(body), "llama-cpp-python", ["llama-cpp-python", "huggingface_hub"],
                   " ".join(note), lang)


def _mlx(model: ModelInfo, task: str | None, s: dict[str, Any], lang: str) -> Snippet:
    if task not in ("text-generation", None) or (task is None and not _is_chat(model)):
        return _none(model, f"MLX weights for {task or 'an unknown task'}; only mlx-lm text "
                     "generation has a standard loader", lang)
    lines = ["from mlx_lm import generate, load", "", f"model, tokenizer = load({_lit(model.id)})"]
    if _is_chat(model):
        lines += [f'messages = [{{"role": "user", "content": {_lit(s["chat"])}}}]',
                  "prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True)"]
    else:
        lines += [f"prompt = {_lit(s['story'])}"]
    lines += [f"print(generate(model, tokenizer, prompt=prompt, max_tokens={DEMO_MAX_NEW_TOKENS * 4}))"]
    # No CPU/GPU size advice: MLX repos are mostly quantised and the Hub's parameter count
    # is of the packed weights; on a Mac they need about their download size in memory.
    return Snippet("\n".join(lines), "mlx-lm", ["mlx-lm"],
                   "MLX runs on Apple-silicon Macs only; the model needs about its download "
                   "size in memory.", lang)


def _diffusers(model: ModelInfo, task: str | None, s: dict[str, Any], lang: str) -> Snippet:
    tags = _tags(model)
    if task not in DIFFUSERS_TASKS:
        return _none(model, f"a diffusers repo for {task or 'an unknown task'}", lang)
    if tags & {"controlnet", "textual_inversion"} or any("inpaint" in t for t in tags):
        return _none(model, "ControlNets, inpainting and textual inversions need a base "
                     "pipeline and extra inputs", lang)
    lora = "lora" in tags
    if lora and not model.base_model:
        return _none(model, "a LoRA adapter whose base model the record does not name", lang)
    repo = model.base_model if lora else model.id
    lines = ["import torch", "from diffusers import DiffusionPipeline"]
    if task in ("image-to-image", "image-to-video"):
        lines.append("from diffusers.utils import load_image")
    if task in ("text-to-video", "image-to-video"):
        lines.append("from diffusers.utils import export_to_video")
    lines += ["", f"pipe = DiffusionPipeline.from_pretrained({_lit(repo)}{_rc(model)})"]
    if lora:
        lines.append(f"pipe.load_lora_weights({_lit(model.id)})")
    lines += ['pipe = pipe.to("cuda" if torch.cuda.is_available() else "cpu")',
              f"prompt = {_lit(s['image_prompt'])}"]
    if task in ("image-to-image", "image-to-video"):
        lines.append(f"image = load_image({_lit(s['image_url'])})")
        call = "pipe(prompt=prompt, image=image)"
    else:
        call = "pipe(prompt)"
    if task in ("text-to-video", "image-to-video"):
        lines += [f"frames = {call}.frames[0]", 'export_to_video(frames, "out.mp4")']
    else:
        lines += [f"{call}.images[0].save(\"out.png\")"]
    needs = ["diffusers", "transformers", "accelerate", "torch"]
    needs += ["peft"] if lora else []
    needs += ["imageio", "imageio-ffmpeg"] if "video" in task else []
    note = ["Diffusion models are slow without a GPU (minutes per image on CPU).",
            _size_note(model, "diffusers") if model.parameters else "",
            "The prompt is in English: most diffusion text encoders learnt from English captions."]
    if _rc(model):
        note.insert(0, REMOTE_CODE_WARNING)
    return Snippet("\n".join(lines), "diffusers", needs, " ".join(n for n in note if n), lang)


def _sentence_transformers(model: ModelInfo, task: str | None, s: dict[str, Any],
                           lang: str) -> Snippet | None:
    """Embedders, rerankers, sparse encoders and SetFit; None when it is none of them."""
    tags = _tags(model)
    name = model.id.lower()
    rc = _rc(model)
    warn = REMOTE_CODE_WARNING + " " if rc else ""
    if tags & MULTI_VECTOR_TAGS or (model.library or "").lower() in ("pylate", "colpali"):
        return _none(model, "a multi-vector (ColBERT-style) retriever; it needs PyLate or "
                     "colpali-engine", lang)
    if "setfit" in tags:
        code = "\n".join([
            "from setfit import SetFitModel", "",
            f"model = SetFitModel.from_pretrained({_lit(model.id)})",
            f"print(model.predict({_lit([s['text'], s['sentences'][2]])}))"])
        return Snippet(code, "setfit", ["setfit"], _size_note(model, "setfit"), lang)
    reranker = (tags & CROSS_ENCODER_TAGS or task == "text-ranking" or "rerank" in name
                or name.startswith("cross-encoder/"))
    if reranker and task in (None, "text-classification", "text-ranking"):
        code = "\n".join([
            "from sentence_transformers import CrossEncoder", "",
            f"model = CrossEncoder({_lit(model.id)}{rc})",
            f"query = {_lit(s['sentences'][0])}",
            f"passages = {_lit(s['sentences'][1:])}",
            "scores = model.predict([(query, passage) for passage in passages])",
            "print(scores)  # higher = more relevant; the paraphrase should win"])
        return Snippet(code, "sentence-transformers.CrossEncoder", ["sentence-transformers"],
                       warn + _size_note(model, "st"), lang)
    if tags & SPARSE_TAGS:
        cls, runner = "SparseEncoder", "sentence-transformers.SparseEncoder"
    elif task in (None, *EMBEDDING_TASKS):
        cls, runner = "SentenceTransformer", "sentence-transformers"
    else:
        return None
    code = "\n".join([
        f"from sentence_transformers import {cls}", "",
        f"model = {cls}({_lit(model.id)}{rc})",
        f"sentences = {_lit(s['sentences'])}",
        "embeddings = model.encode(sentences)",
        "print(model.similarity(embeddings, embeddings))  # the first two should be closest"])
    return Snippet(code, runner, ["sentence-transformers"], warn + _size_note(model, "st"), lang)


def _keras(model: ModelInfo, task: str | None, s: dict[str, Any], lang: str) -> Snippet:
    lib = (model.library or "").lower()
    tags = _tags(model)
    backend = ['import os', 'os.environ["KERAS_BACKEND"] = "jax"  # or "torch" / "tensorflow"', ""]
    if lib == "keras-hub" or "keras-hub" in tags:
        if task != "text-generation":
            return _none(model, f"a KerasHub preset for {task or 'an unknown task'}; only "
                         "CausalLM presets have a task-independent demo", lang)
        code = "\n".join(backend + [
            "import keras_hub", "",
            f"causal_lm = keras_hub.models.CausalLM.from_preset({_lit('hf://' + model.id)})",
            f"print(causal_lm.generate({_lit(s['story'])}, max_length={DEMO_MAX_NEW_TOKENS}))"])
        return Snippet(code, "keras-hub", ["keras-hub", "jax"], _size_note(model, "keras"), lang)
    if model.source == "2022" or "tf-keras" in tags:
        return _none(model, "a Keras 2 / TensorFlow SavedModel, which Keras 3 does not load", lang)
    code = "\n".join(backend + [
        "import keras", "",
        f"model = keras.saving.load_model({_lit('hf://' + model.id)})",
        "model.summary()  # the card says what input the model expects"])
    return Snippet(code, "keras", ["keras", "jax", "huggingface_hub"],
                   "Loads the model; its input format is model-specific (see the card).", lang)


def _other_library(model: ModelInfo, task: str | None, s: dict[str, Any],
                   lang: str) -> Snippet | None:
    """timm, open_clip, flair, nemo, peft: one loader each, for the task it surely does."""
    lib = (model.library or "").lower()
    tags = _tags(model)
    mid = _lit(model.id)
    if lib == "timm" and task == "image-classification":
        hub = _lit("hf-hub:" + model.id)
        code = "\n".join([
            "from urllib.request import urlopen", "",
            "import timm", "import torch", "from PIL import Image", "",
            f"model = timm.create_model({hub}, pretrained=True).eval()",
            "config = timm.data.resolve_model_data_config(model)",
            "transform = timm.data.create_transform(**config, is_training=False)",
            f'image = Image.open(urlopen({_lit(s["image_url"])})).convert("RGB")',
            "with torch.no_grad():",
            "    probabilities = model(transform(image).unsqueeze(0)).softmax(dim=-1)",
            "print(probabilities.topk(5))  # (scores, class indices)"])
        return Snippet(code, "timm", ["timm", "torch", "pillow"], _size_note(model, "timm"), lang)
    if lib == "open_clip" and task == "zero-shot-image-classification":
        hub = _lit("hf-hub:" + model.id)
        code = "\n".join([
            "from urllib.request import urlopen", "",
            "import open_clip", "import torch", "from PIL import Image", "",
            f"model, _, preprocess = open_clip.create_model_and_transforms({hub})",
            f"tokenizer = open_clip.get_tokenizer({hub})",
            f"labels = {_lit(s['image_labels'])}",
            f"image = preprocess(Image.open(urlopen({_lit(s['image_url'])}))).unsqueeze(0)",
            "with torch.no_grad():",
            "    image_features = model.encode_image(image)",
            "    text_features = model.encode_text(tokenizer(labels))",
            "    image_features /= image_features.norm(dim=-1, keepdim=True)",
            "    text_features /= text_features.norm(dim=-1, keepdim=True)",
            "    probs = (100.0 * image_features @ text_features.T).softmax(dim=-1)",
            "print(dict(zip(labels, probs[0].tolist())))"])
        return Snippet(code, "open_clip", ["open_clip_torch", "torch", "pillow"],
                       _size_note(model, "open_clip"), lang)
    if lib == "flair" and task == "token-classification":
        code = "\n".join([
            "from flair.data import Sentence", "from flair.models import SequenceTagger", "",
            f"tagger = SequenceTagger.load({mid})",
            f"sentence = Sentence({_lit(s['entities'])})",
            "tagger.predict(sentence)", "print(sentence)"])
        return Snippet(code, "flair", ["flair"], _size_note(model, "flair"), lang)
    if lib == "nemo" and task == "automatic-speech-recognition" and not tags & {"coreml", "onnx"}:
        code = "\n".join([
            "from urllib.request import urlretrieve", "",
            "import nemo.collections.asr as nemo_asr", "",
            f"asr_model = nemo_asr.models.ASRModel.from_pretrained(model_name={mid})",
            f'urlretrieve({_lit(s["audio_url"])}, "sample.flac")  # a 16 kHz English clip',
            'print(asr_model.transcribe(["sample.flac"])[0])'])
        return Snippet(code, "nemo", ["nemo_toolkit[asr]"],
                       "The sample clip is English speech. " + _size_note(model, "nemo"), lang)
    if lib == "peft" and task == "text-generation" and model.base_model:
        lines = [
            "from peft import AutoPeftModelForCausalLM",
            "from transformers import AutoTokenizer", "",
            f"model = AutoPeftModelForCausalLM.from_pretrained({mid})",
            f"tokenizer = AutoTokenizer.from_pretrained({_lit(model.base_model)})"]
        if _is_chat(model):
            lines += [f'messages = [{{"role": "user", "content": {_lit(s["chat"])}}}]',
                      "inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, "
                      'return_tensors="pt", return_dict=True)']
        else:
            lines += [f'inputs = tokenizer({_lit(s["story"])}, return_tensors="pt")']
        lines += [f"outputs = model.generate(**inputs, max_new_tokens={DEMO_MAX_NEW_TOKENS})",
                  'print(tokenizer.decode(outputs[0][inputs["input_ids"].shape[-1]:], '
                  "skip_special_tokens=True))"]
        return Snippet("\n".join(lines), "peft", ["peft", "transformers", "torch"],
                       f"A LoRA adapter on {model.base_model}: the base model's size applies.",
                       lang)
    return None


def _speech_model(model: ModelInfo) -> bool:
    """A text-to-audio model that speaks (SpeechT5, Bark, MMS-TTS) rather than makes music."""
    words = " ".join([model.id.lower(), *_tags(model)])
    return any(w in words for w in ("tts", "speech", "voice", "bark", "vits"))


def _pipeline_call(model: ModelInfo, task: str, s: dict[str, Any],
                   legacy: bool = False) -> list[str] | None:
    """Lines that feed the sample to ``pipe`` and print the result.

    ``legacy``: a 2022 "conversational" model, prompted with the chat sentence as text.
    """
    chat = _is_chat(model)
    n = DEMO_MAX_NEW_TOKENS
    if task in ("text-classification",):
        return [f"print(pipe({_lit(s['text'])}))"]
    if task == "token-classification":
        return [f"print(pipe({_lit(s['entities'])}))"]
    if task == "fill-mask":
        return [f"text = {_lit(s['mask'])}.format(mask=pipe.tokenizer.mask_token)",
                "print(pipe(text))"]
    if task == "zero-shot-classification":
        return [f"print(pipe({_lit(s['text'])}, candidate_labels={_lit(s['labels'])}))"]
    if task == "feature-extraction":
        return [f"features = pipe({_lit(s['text'])})",
                "print(len(features[0]), 'token vectors of size', len(features[0][0]))"]
    if task == "text-generation" and chat:
        return [f'messages = [{{"role": "user", "content": {_lit(s["chat"])}}}]',
                f"out = pipe(messages, max_new_tokens={n * 4})",
                'print(out[0]["generated_text"][-1]["content"])']
    if task == "text-generation":
        prompt = s["chat"] if legacy else s["story"]
        return [f"print(pipe({_lit(prompt)}, max_new_tokens={n})[0][\"generated_text\"])"]
    if task == "image-text-to-text":
        return ["messages = [{",
                '    "role": "user",',
                '    "content": [',
                f'        {{"type": "image", "url": {_lit(s["image_url"])}}},',
                f'        {{"type": "text", "text": {_lit(s["describe_image"])}}},',
                "    ],",
                "}]",
                f"out = pipe(text=messages, max_new_tokens={n * 2})",
                'print(out[0]["generated_text"][-1]["content"])']
    if task in AUDIO_IN_TASKS:
        return [f"print(pipe({_lit(s['audio_url'])}))  # an English speech clip"]
    if task in ("text-to-speech", "text-to-audio"):
        speech = task == "text-to-speech" or _speech_model(model)
        text = s["greeting"] if speech else s["audio_prompt"]
        return [f"out = pipe({_lit(text)})",
                'sf.write("out.wav", out["audio"].squeeze(), out["sampling_rate"])']
    if task in ("image-classification", "object-detection", "image-feature-extraction"):
        return [f"print(pipe({_lit(s['image_url'])}))"]
    if task == "image-segmentation":
        return [f"segments = pipe({_lit(s['image_url'])})",
                'print([segment["label"] for segment in segments])']
    if task == "depth-estimation":
        return [f'pipe({_lit(s["image_url"])})["depth"].save("depth.png")']
    if task in ("zero-shot-image-classification", "zero-shot-object-detection"):
        labels = s["image_labels"] if task == "zero-shot-image-classification" else ["cat", "remote control"]
        return [f"print(pipe({_lit(s['image_url'])}, candidate_labels={_lit(labels)}))"]
    if task == "table-question-answering":
        return ['table = {"city": ["Paris", "Rome"], "people": ["2.1M", "2.8M"]}',
                'print(pipe(table=table, query="How many people live in Rome?"))']
    return None


def _transformers(model: ModelInfo, task: str | None, s: dict[str, Any],
                  lang: str) -> Snippet:
    tags = _tags(model)
    rc = _rc(model)
    if task is None:
        return _none(model, "the record names no task, so there is no pipeline to pick", lang)
    run_task = LEGACY_PIPELINE_TASKS.get(task, task)
    if task == "conversational" and tags & SEQ2SEQ_ARCH_TAGS:
        run_task = "text2text-generation"
    notes = [REMOTE_CODE_WARNING] if rc else []
    if task == "sentence-similarity":  # no such pipeline: sentence-transformers pools for us
        snip = _sentence_transformers(model, task, s, lang)
        if snip is not None:
            return snip
    if run_task in PIPELINE_TASKS:
        call = _pipeline_call(model, run_task, s, legacy=task in LEGACY_PIPELINE_TASKS)
        if call is None:
            return _none(model, f"no demo input for {task}", lang)
        extra = ', aggregation_strategy="simple"' if run_task == "token-classification" else ""
        imports = ["import soundfile as sf"] if run_task in ("text-to-speech", "text-to-audio") else []
        code = "\n".join([*imports, "from transformers import pipeline", "",
                          f"pipe = pipeline({_lit(run_task)}, model={_lit(model.id)}{extra}{rc})",
                          *call])
        needs = ["transformers", "torch"]
        if run_task in IMAGE_TASKS:
            needs.append("pillow")
        if run_task in ("text-to-speech", "text-to-audio"):
            needs.append("soundfile")
            if run_task == "text-to-speech" or _speech_model(model):
                notes.append("TTS models speak the language(s) they were trained on; some "
                             "also need a speaker embedding (see the card).")
        if run_task in AUDIO_IN_TASKS:
            notes.append("Decoding audio needs ffmpeg installed on the system.")
        if task in LEGACY_PIPELINE_TASKS:
            notes.append(f"'{task}' is a legacy Hub task; the {run_task} pipeline runs it.")
        notes.append(_size_note(model, "transformers"))
        return Snippet(code, "transformers.pipeline", needs, " ".join(notes), lang)
    if run_task in SEQ2SEQ_TASKS:
        text = {"summarization": s["paragraph"], "conversational": s["chat"]}.get(task, s["text"])
        if "t5" in tags and run_task == "translation":
            text = s["t5_translation_prefix"] + samples_for("en")["text"]
        elif "t5" in tags and run_task == "summarization":
            text = "summarize: " + text
        code = "\n".join([
            "from transformers import AutoModelForSeq2SeqLM, AutoTokenizer", "",
            f"tokenizer = AutoTokenizer.from_pretrained({_lit(model.id)}{rc})",
            f"model = AutoModelForSeq2SeqLM.from_pretrained({_lit(model.id)}{rc})",
            f'inputs = tokenizer({_lit(text)}, return_tensors="pt", truncation=True)',
            f"outputs = model.generate(**inputs, max_new_tokens={DEMO_MAX_NEW_TOKENS})",
            "print(tokenizer.decode(outputs[0], skip_special_tokens=True))"])
        if run_task == "translation" and not MARIAN_ID.search(model.id) and "t5" not in tags:
            notes.append("Many-to-many translation models (NLLB, M2M100, mBART-50) also need "
                         "source/target language codes: see the card.")
        notes.append(_size_note(model, "transformers"))
        return Snippet(code, "transformers", ["transformers", "torch", "sentencepiece"],
                       " ".join(notes), lang)
    if run_task == "question-answering":
        code = "\n".join([
            "import torch",
            "from transformers import AutoModelForQuestionAnswering, AutoTokenizer", "",
            f"tokenizer = AutoTokenizer.from_pretrained({_lit(model.id)}{rc})",
            f"model = AutoModelForQuestionAnswering.from_pretrained({_lit(model.id)}{rc})",
            f'inputs = tokenizer({_lit(s["question"])}, {_lit(s["entities"])}, return_tensors="pt")',
            "with torch.no_grad():",
            "    outputs = model(**inputs)",
            "start = int(outputs.start_logits.argmax())",
            "end = int(outputs.end_logits.argmax())",
            'print(tokenizer.decode(inputs["input_ids"][0, start : end + 1]))'])
        notes.append(_size_note(model, "transformers"))
        return Snippet(code, "transformers", ["transformers", "torch"], " ".join(notes), lang)
    return _none(model, f"'{task}' has no transformers 5 pipeline or short generic recipe", lang)


# --- entry points ---------------------------------------------------------------------
def plan_snippet(model: ModelInfo, task: str | None = None,
                 language: str | None = None) -> Snippet:
    """Decide the runner and write the code; ``code == ""`` when there is none (see note).

    Rules, first match wins (the reasons are in the comments below):
    GGUF -> llama-cpp-python; MLX -> mlx-lm; JavaScript/ONNX-only and ComfyUI single
    files -> none; diffusers -> DiffusionPipeline; sentence-transformers family ->
    SentenceTransformer / CrossEncoder / SparseEncoder / SetFit; Keras -> keras-hub or
    keras.saving; timm / open_clip / flair / nemo / peft -> their loader for one task;
    other known libraries -> none with the reason; transformers -> pipeline, Auto classes
    or none; no library -> none.
    """
    task_ = resolve_task(model, task)
    lang = sample_language(model, language)
    s = samples_for(lang)
    lib = (model.library or "").lower()
    tags = _tags(model)
    # GGUF first: a GGUF repo often still says library "transformers", yet its weights
    # only load in llama.cpp and friends; transformers' own GGUF loading dequantises to
    # fp32 and defeats the point.
    if _is_gguf(model):
        return _gguf(model, task_, s, lang)
    # MLX weights are quantised for Apple's MLX; transformers cannot load them.
    if lib in MLX_LIBRARIES or (lib in ("", "transformers") and "mlx" in tags):
        return _mlx(model, task_, s, lang)
    if lib in NON_PYTHON_LIBRARIES:
        return _none(model, f"the weights are for {model.library} (JavaScript / ONNX Runtime "
                     "with model-specific pre- and post-processing)", lang)
    if lib in SINGLE_FILE_LIBRARIES:
        return _none(model, "a single-file checkpoint for ComfyUI-style tools, not a "
                     "diffusers pipeline folder", lang)
    if lib == "diffusers" or (not lib and "diffusers" in tags):
        return _diffusers(model, task_, s, lang)
    # sentence-transformers before transformers: a reranker or embedder in a plain
    # pipeline returns raw logits / token vectors instead of scores / sentence vectors.
    if lib in ("sentence-transformers", "setfit", "pylate", "colpali") or (
        lib in ("", "transformers") and (tags & {"sentence-transformers", "setfit"}
                                         or model.id.lower().startswith("cross-encoder/"))):
        snip = _sentence_transformers(model, task_, s, lang)
        if snip is not None:
            return snip
    if lib in ("keras", "keras-hub") or (not lib and tags & {"keras", "keras-hub"}):
        return _keras(model, task_, s, lang)
    if lib in ("timm", "open_clip", "flair", "nemo", "peft"):
        snip = _other_library(model, task_, s, lang)
        return snip or _none(model, f"no {model.library} loader we are sure of for "
                             f"{task_ or 'an unknown task'}", lang)
    if lib in CARD_ONLY_REASONS:
        return _none(model, CARD_ONLY_REASONS[lib], lang)
    if lib == "transformers":
        return _transformers(model, task_, s, lang)
    if not lib:
        return _none(model, "the record names no library, so the loader is unknown", lang)
    return _none(model, f"{model.library} is not a library we write snippets for", lang)


def make_snippet(model: ModelInfo, task: str | None = None,
                 language: str | None = None) -> Snippet | None:
    """Runnable "try it" code for ``model``, or None rather than a snippet that fails.

    Args:
        model: the record (library, tags, formats, parameters and languages are used).
        task: the request's Hub task; used only when the model has no ``pipeline_tag``
            and its tags name that task (see :func:`resolve_task`).
        language: the request's language code ("es", "pt-BR"...); sample inputs come
            from ``prompts/snippet_samples.yaml`` in that language when the model covers
            it, else in the model's own language, else English.

    Example:
        >>> from advisor.types import ModelInfo
        >>> m = ModelInfo(id="sentence-transformers/all-MiniLM-L6-v2", source="2026",
        ...               library="sentence-transformers", pipeline_tag="sentence-similarity")
        >>> make_snippet(m, language="es").runner
        'sentence-transformers'
    """
    snip = plan_snippet(model, task, language)
    return snip if snip.code else None
