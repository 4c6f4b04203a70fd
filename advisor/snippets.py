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

from typing import Any

from advisor.snippet_kit import (
    AUDIO_IN_TASKS,
    CARD_ONLY_REASONS,
    DEMO_MAX_NEW_TOKENS,
    IMAGE_TASKS,
    LEGACY_PIPELINE_TASKS,
    MARIAN_ID,
    MLX_LIBRARIES,
    NON_PYTHON_LIBRARIES,
    PIPELINE_TASKS,
    REMOTE_CODE_WARNING,
    SEQ2SEQ_ARCH_TAGS,
    SEQ2SEQ_TASKS,
    SINGLE_FILE_LIBRARIES,
    Snippet,
    is_chat,
    is_gguf,
    lit,
    no_snippet,
    remote_code_arg,
    resolve_task,
    sample_language,
    samples_for,
    size_note,
    tags_of,
)
from advisor.snippet_libraries import (
    _diffusers,
    _gguf,
    _keras,
    _mlx,
    _other_library,
    _sentence_transformers,
)
from advisor.types import ModelInfo


def _speech_model(model: ModelInfo) -> bool:
    """A text-to-audio model that speaks (SpeechT5, Bark, MMS-TTS) rather than makes music."""
    words = " ".join([model.id.lower(), *tags_of(model)])
    return any(w in words for w in ("tts", "speech", "voice", "bark", "vits"))


def _pipeline_call(model: ModelInfo, task: str, s: dict[str, Any],
                   legacy: bool = False) -> list[str] | None:
    """Lines that feed the sample to ``pipe`` and print the result.

    ``legacy``: a 2022 "conversational" model, prompted with the chat sentence as text.
    """
    chat = is_chat(model)
    n = DEMO_MAX_NEW_TOKENS
    if task in ("text-classification",):
        return [f"print(pipe({lit(s['text'])}))"]
    if task == "token-classification":
        return [f"print(pipe({lit(s['entities'])}))"]
    if task == "fill-mask":
        return [f"text = {lit(s['mask'])}.format(mask=pipe.tokenizer.mask_token)",
                "print(pipe(text))"]
    if task == "zero-shot-classification":
        return [f"print(pipe({lit(s['text'])}, candidate_labels={lit(s['labels'])}))"]
    if task == "feature-extraction":
        return [f"features = pipe({lit(s['text'])})",
                "print(len(features[0]), 'token vectors of size', len(features[0][0]))"]
    if task == "text-generation" and chat:
        return [f'messages = [{{"role": "user", "content": {lit(s["chat"])}}}]',
                f"out = pipe(messages, max_new_tokens={n * 4})",
                'print(out[0]["generated_text"][-1]["content"])']
    if task == "text-generation":
        prompt = s["chat"] if legacy else s["story"]
        return [f"print(pipe({lit(prompt)}, max_new_tokens={n})[0][\"generated_text\"])"]
    if task == "image-text-to-text":
        return ["messages = [{",
                '    "role": "user",',
                '    "content": [',
                f'        {{"type": "image", "url": {lit(s["image_url"])}}},',
                f'        {{"type": "text", "text": {lit(s["describe_image"])}}},',
                "    ],",
                "}]",
                f"out = pipe(text=messages, max_new_tokens={n * 2})",
                'print(out[0]["generated_text"][-1]["content"])']
    if task in AUDIO_IN_TASKS:
        return [f"print(pipe({lit(s['audio_url'])}))  # an English speech clip"]
    if task in ("text-to-speech", "text-to-audio"):
        speech = task == "text-to-speech" or _speech_model(model)
        text = s["greeting"] if speech else s["audio_prompt"]
        return [f"out = pipe({lit(text)})",
                'sf.write("out.wav", out["audio"].squeeze(), out["sampling_rate"])']
    if task in ("image-classification", "object-detection", "image-feature-extraction"):
        return [f"print(pipe({lit(s['image_url'])}))"]
    if task == "image-segmentation":
        return [f"segments = pipe({lit(s['image_url'])})",
                'print([segment["label"] for segment in segments])']
    if task == "depth-estimation":
        return [f'pipe({lit(s["image_url"])})["depth"].save("depth.png")']
    if task in ("zero-shot-image-classification", "zero-shot-object-detection"):
        labels = s["image_labels"] if task == "zero-shot-image-classification" else ["cat", "remote control"]
        return [f"print(pipe({lit(s['image_url'])}, candidate_labels={lit(labels)}))"]
    if task == "table-question-answering":
        return ['table = {"city": ["Paris", "Rome"], "people": ["2.1M", "2.8M"]}',
                'print(pipe(table=table, query="How many people live in Rome?"))']
    return None


def _transformers(model: ModelInfo, task: str | None, s: dict[str, Any],
                  lang: str) -> Snippet:
    tags = tags_of(model)
    rc = remote_code_arg(model)
    if task is None:
        return no_snippet(model, "the record names no task, so there is no pipeline to pick", lang)
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
            return no_snippet(model, f"no demo input for {task}", lang)
        extra = ', aggregation_strategy="simple"' if run_task == "token-classification" else ""
        imports = ["import soundfile as sf"] if run_task in ("text-to-speech", "text-to-audio") else []
        code = "\n".join([*imports, "from transformers import pipeline", "",
                          f"pipe = pipeline({lit(run_task)}, model={lit(model.id)}{extra}{rc})",
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
        notes.append(size_note(model, "transformers"))
        return Snippet(code, "transformers.pipeline", needs, " ".join(notes), lang)
    if run_task in SEQ2SEQ_TASKS:
        text = {"summarization": s["paragraph"], "conversational": s["chat"]}.get(task, s["text"])
        if "t5" in tags and run_task == "translation":
            text = s["t5_translation_prefix"] + samples_for("en")["text"]
        elif "t5" in tags and run_task == "summarization":
            text = "summarize: " + text
        code = "\n".join([
            "from transformers import AutoModelForSeq2SeqLM, AutoTokenizer", "",
            f"tokenizer = AutoTokenizer.from_pretrained({lit(model.id)}{rc})",
            f"model = AutoModelForSeq2SeqLM.from_pretrained({lit(model.id)}{rc})",
            f'inputs = tokenizer({lit(text)}, return_tensors="pt", truncation=True)',
            f"outputs = model.generate(**inputs, max_new_tokens={DEMO_MAX_NEW_TOKENS})",
            "print(tokenizer.decode(outputs[0], skip_special_tokens=True))"])
        if run_task == "translation" and not MARIAN_ID.search(model.id) and "t5" not in tags:
            notes.append("Many-to-many translation models (NLLB, M2M100, mBART-50) also need "
                         "source/target language codes: see the card.")
        notes.append(size_note(model, "transformers"))
        return Snippet(code, "transformers", ["transformers", "torch", "sentencepiece"],
                       " ".join(notes), lang)
    if run_task == "question-answering":
        code = "\n".join([
            "import torch",
            "from transformers import AutoModelForQuestionAnswering, AutoTokenizer", "",
            f"tokenizer = AutoTokenizer.from_pretrained({lit(model.id)}{rc})",
            f"model = AutoModelForQuestionAnswering.from_pretrained({lit(model.id)}{rc})",
            f'inputs = tokenizer({lit(s["question"])}, {lit(s["entities"])}, return_tensors="pt")',
            "with torch.no_grad():",
            "    outputs = model(**inputs)",
            "start = int(outputs.start_logits.argmax())",
            "end = int(outputs.end_logits.argmax())",
            'print(tokenizer.decode(inputs["input_ids"][0, start : end + 1]))'])
        notes.append(size_note(model, "transformers"))
        return Snippet(code, "transformers", ["transformers", "torch"], " ".join(notes), lang)
    return no_snippet(model, f"'{task}' has no transformers 5 pipeline or short generic recipe", lang)


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
    tags = tags_of(model)
    # GGUF first: a GGUF repo often still says library "transformers", yet its weights
    # only load in llama.cpp and friends; transformers' own GGUF loading dequantises to
    # fp32 and defeats the point.
    if is_gguf(model):
        return _gguf(model, task_, s, lang)
    # MLX weights are quantised for Apple's MLX; transformers cannot load them.
    if lib in MLX_LIBRARIES or (lib in ("", "transformers") and "mlx" in tags):
        return _mlx(model, task_, s, lang)
    if lib in NON_PYTHON_LIBRARIES:
        return no_snippet(model, f"the weights are for {model.library} (JavaScript / ONNX Runtime "
                     "with model-specific pre- and post-processing)", lang)
    if lib in SINGLE_FILE_LIBRARIES:
        return no_snippet(model, "a single-file checkpoint for ComfyUI-style tools, not a "
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
        return snip or no_snippet(model, f"no {model.library} loader we are sure of for "
                             f"{task_ or 'an unknown task'}", lang)
    if lib in CARD_ONLY_REASONS:
        return no_snippet(model, CARD_ONLY_REASONS[lib], lang)
    if lib == "transformers":
        return _transformers(model, task_, s, lang)
    if not lib:
        return no_snippet(model, "the record names no library, so the loader is unknown", lang)
    return no_snippet(model, f"{model.library} is not a library we write snippets for", lang)


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
