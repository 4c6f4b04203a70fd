"""Snippet runners for the libraries other than transformers: llama-cpp-python (GGUF),
mlx-lm, diffusers, sentence-transformers (and its CrossEncoder / SparseEncoder, SetFit),
Keras, and the one-call loaders of timm, open_clip, flair, nemo and peft. Each returns a
:class:`~advisor.snippet_kit.Snippet`, or ``None`` / a no-code snippet when it is not sure
the code would run. :func:`advisor.snippets.plan_snippet` chooses among them.
"""

from __future__ import annotations

from typing import Any

from advisor.snippet_kit import (
    CROSS_ENCODER_TAGS,
    DEMO_MAX_NEW_TOKENS,
    DIFFUSERS_TASKS,
    EMBEDDING_TASKS,
    GGUF_FILE_PATTERN,
    MULTI_VECTOR_TAGS,
    REMOTE_CODE_WARNING,
    SINGLE_QUANT_REPO,
    SPARSE_TAGS,
    Snippet,
    is_chat,
    lit,
    no_snippet,
    remote_code_arg,
    size_note,
    tags_of,
)
from advisor.types import ModelInfo


# --- runners --------------------------------------------------------------------------
def _gguf(model: ModelInfo, task: str | None, s: dict[str, Any], lang: str) -> Snippet:
    chat = is_chat(model)
    if task in EMBEDDING_TASKS:
        mode = "embed"
    elif task in ("text-generation", "image-text-to-text", "conversational") or (task is None and chat):
        mode = "chat" if chat or task in ("image-text-to-text", "conversational") else "complete"
    else:
        what = task or "an unknown task"
        return no_snippet(model, f"a GGUF file for {what}; llama-cpp-python runs text models only, "
                     "and this repo names another runner", lang)
    pattern = "*.gguf" if SINGLE_QUANT_REPO.search(model.id) else GGUF_FILE_PATTERN
    head = [
        "from llama_cpp import Llama",
        "",
        "# Llama.from_pretrained downloads the one file matching `filename` (a glob).",
        "llm = Llama.from_pretrained(",
        f"    repo_id={lit(model.id)},",
        f"    filename={lit(pattern)},",
    ]
    if mode == "embed":
        body = head + ["    embedding=True,", ")",
                       f"vectors = llm.embed({lit(s['sentences'])})",
                       "print(len(vectors), len(vectors[0]))"]
    elif mode == "chat":
        body = head + [")",
                       f'messages = [{{"role": "user", "content": {lit(s["chat"])}}}]',
                       f"out = llm.create_chat_completion(messages=messages, max_tokens={DEMO_MAX_NEW_TOKENS * 4})",
                       'print(out["choices"][0]["message"]["content"])']
    else:
        body = head + [")", f"out = llm({lit(s['story'])}, max_tokens={DEMO_MAX_NEW_TOKENS})",
                       'print(out["choices"][0]["text"])']
    note = [size_note(model, "llama-cpp-python"),
            f"If no file matches {pattern!r} (or several do, e.g. split shards), put one "
            "file name from the repo's Files tab in `filename`."]
    if task == "image-text-to-text":
        note.append("This chats in text only; images also need the repo's mmproj file "
                    "and a multimodal chat handler.")
    return Snippet("\n".join(body), "llama-cpp-python", ["llama-cpp-python", "huggingface_hub"],
                   " ".join(note), lang)


def _mlx(model: ModelInfo, task: str | None, s: dict[str, Any], lang: str) -> Snippet:
    if task not in ("text-generation", None) or (task is None and not is_chat(model)):
        return no_snippet(model, f"MLX weights for {task or 'an unknown task'}; only mlx-lm text "
                     "generation has a standard loader", lang)
    lines = ["from mlx_lm import generate, load", "", f"model, tokenizer = load({lit(model.id)})"]
    if is_chat(model):
        lines += [f'messages = [{{"role": "user", "content": {lit(s["chat"])}}}]',
                  "prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True)"]
    else:
        lines += [f"prompt = {lit(s['story'])}"]
    lines += [f"print(generate(model, tokenizer, prompt=prompt, max_tokens={DEMO_MAX_NEW_TOKENS * 4}))"]
    # No CPU/GPU size advice: MLX repos are mostly quantised and the Hub's parameter count
    # is of the packed weights; on a Mac they need about their download size in memory.
    return Snippet("\n".join(lines), "mlx-lm", ["mlx-lm"],
                   "MLX runs on Apple-silicon Macs only; the model needs about its download "
                   "size in memory.", lang)


def _diffusers(model: ModelInfo, task: str | None, s: dict[str, Any], lang: str) -> Snippet:
    tags = tags_of(model)
    if task not in DIFFUSERS_TASKS:
        return no_snippet(model, f"a diffusers repo for {task or 'an unknown task'}", lang)
    if tags & {"controlnet", "textual_inversion"} or any("inpaint" in t for t in tags):
        return no_snippet(model, "ControlNets, inpainting and textual inversions need a base "
                     "pipeline and extra inputs", lang)
    lora = "lora" in tags
    if lora and not model.base_model:
        return no_snippet(model, "a LoRA adapter whose base model the record does not name", lang)
    repo = model.base_model if lora else model.id
    lines = ["import torch", "from diffusers import DiffusionPipeline"]
    if task in ("image-to-image", "image-to-video"):
        lines.append("from diffusers.utils import load_image")
    if task in ("text-to-video", "image-to-video"):
        lines.append("from diffusers.utils import export_to_video")
    lines += ["", f"pipe = DiffusionPipeline.from_pretrained({lit(repo)}{remote_code_arg(model)})"]
    if lora:
        lines.append(f"pipe.load_lora_weights({lit(model.id)})")
    lines += ['pipe = pipe.to("cuda" if torch.cuda.is_available() else "cpu")',
              f"prompt = {lit(s['image_prompt'])}"]
    if task in ("image-to-image", "image-to-video"):
        lines.append(f"image = load_image({lit(s['image_url'])})")
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
            size_note(model, "diffusers") if model.parameters else "",
            "The prompt is in English: most diffusion text encoders learnt from English captions."]
    if remote_code_arg(model):
        note.insert(0, REMOTE_CODE_WARNING)
    return Snippet("\n".join(lines), "diffusers", needs, " ".join(n for n in note if n), lang)


def _sentence_transformers(model: ModelInfo, task: str | None, s: dict[str, Any],
                           lang: str) -> Snippet | None:
    """Embedders, rerankers, sparse encoders and SetFit; None when it is none of them."""
    tags = tags_of(model)
    name = model.id.lower()
    rc = remote_code_arg(model)
    warn = REMOTE_CODE_WARNING + " " if rc else ""
    if tags & MULTI_VECTOR_TAGS or (model.library or "").lower() in ("pylate", "colpali"):
        return no_snippet(model, "a multi-vector (ColBERT-style) retriever; it needs PyLate or "
                     "colpali-engine", lang)
    if "setfit" in tags:
        code = "\n".join([
            "from setfit import SetFitModel", "",
            f"model = SetFitModel.from_pretrained({lit(model.id)})",
            f"print(model.predict({lit([s['text'], s['sentences'][2]])}))"])
        return Snippet(code, "setfit", ["setfit"], size_note(model, "setfit"), lang)
    reranker = (tags & CROSS_ENCODER_TAGS or task == "text-ranking" or "rerank" in name
                or name.startswith("cross-encoder/"))
    if reranker and task in (None, "text-classification", "text-ranking"):
        code = "\n".join([
            "from sentence_transformers import CrossEncoder", "",
            f"model = CrossEncoder({lit(model.id)}{rc})",
            f"query = {lit(s['sentences'][0])}",
            f"passages = {lit(s['sentences'][1:])}",
            "scores = model.predict([(query, passage) for passage in passages])",
            "print(scores)  # higher = more relevant; the paraphrase should win"])
        return Snippet(code, "sentence-transformers.CrossEncoder", ["sentence-transformers"],
                       warn + size_note(model, "st"), lang)
    if tags & SPARSE_TAGS:
        cls, runner = "SparseEncoder", "sentence-transformers.SparseEncoder"
    elif task in (None, *EMBEDDING_TASKS):
        cls, runner = "SentenceTransformer", "sentence-transformers"
    else:
        return None
    code = "\n".join([
        f"from sentence_transformers import {cls}", "",
        f"model = {cls}({lit(model.id)}{rc})",
        f"sentences = {lit(s['sentences'])}",
        "embeddings = model.encode(sentences)",
        "print(model.similarity(embeddings, embeddings))  # the first two should be closest"])
    return Snippet(code, runner, ["sentence-transformers"], warn + size_note(model, "st"), lang)


def _keras(model: ModelInfo, task: str | None, s: dict[str, Any], lang: str) -> Snippet:
    lib = (model.library or "").lower()
    tags = tags_of(model)
    backend = ['import os', 'os.environ["KERAS_BACKEND"] = "jax"  # or "torch" / "tensorflow"', ""]
    if lib == "keras-hub" or "keras-hub" in tags:
        if task != "text-generation":
            return no_snippet(model, f"a KerasHub preset for {task or 'an unknown task'}; only "
                         "CausalLM presets have a task-independent demo", lang)
        code = "\n".join(backend + [
            "import keras_hub", "",
            f"causal_lm = keras_hub.models.CausalLM.from_preset({lit('hf://' + model.id)})",
            f"print(causal_lm.generate({lit(s['story'])}, max_length={DEMO_MAX_NEW_TOKENS}))"])
        return Snippet(code, "keras-hub", ["keras-hub", "jax"], size_note(model, "keras"), lang)
    if model.source == "2022" or "tf-keras" in tags:
        return no_snippet(model, "a Keras 2 / TensorFlow SavedModel, which Keras 3 does not load", lang)
    code = "\n".join(backend + [
        "import keras", "",
        f"model = keras.saving.load_model({lit('hf://' + model.id)})",
        "model.summary()  # the card says what input the model expects"])
    return Snippet(code, "keras", ["keras", "jax", "huggingface_hub"],
                   "Loads the model; its input format is model-specific (see the card).", lang)


def _image_demo_imports(library: str) -> list[str]:
    """The import lines of an image demo that reads the sample image from a URL."""
    return ["from urllib.request import urlopen", "", f"import {library}", "import torch",
            "from PIL import Image", ""]


def _other_library(model: ModelInfo, task: str | None, s: dict[str, Any],
                   lang: str) -> Snippet | None:
    """timm, open_clip, flair, nemo, peft: one loader each, for the task it surely does."""
    lib = (model.library or "").lower()
    tags = tags_of(model)
    mid = lit(model.id)
    if lib == "timm" and task == "image-classification":
        hub = lit("hf-hub:" + model.id)
        code = "\n".join([
            *_image_demo_imports("timm"),
            f"model = timm.create_model({hub}, pretrained=True).eval()",
            "config = timm.data.resolve_model_data_config(model)",
            "transform = timm.data.create_transform(**config, is_training=False)",
            f'image = Image.open(urlopen({lit(s["image_url"])})).convert("RGB")',
            "with torch.no_grad():",
            "    probabilities = model(transform(image).unsqueeze(0)).softmax(dim=-1)",
            "print(probabilities.topk(5))  # (scores, class indices)"])
        return Snippet(code, "timm", ["timm", "torch", "pillow"], size_note(model, "timm"), lang)
    if lib == "open_clip" and task == "zero-shot-image-classification":
        hub = lit("hf-hub:" + model.id)
        code = "\n".join([
            *_image_demo_imports("open_clip"),
            f"model, _, preprocess = open_clip.create_model_and_transforms({hub})",
            f"tokenizer = open_clip.get_tokenizer({hub})",
            f"labels = {lit(s['image_labels'])}",
            f"image = preprocess(Image.open(urlopen({lit(s['image_url'])}))).unsqueeze(0)",
            "with torch.no_grad():",
            "    image_features = model.encode_image(image)",
            "    text_features = model.encode_text(tokenizer(labels))",
            "    image_features /= image_features.norm(dim=-1, keepdim=True)",
            "    text_features /= text_features.norm(dim=-1, keepdim=True)",
            "    probs = (100.0 * image_features @ text_features.T).softmax(dim=-1)",
            "print(dict(zip(labels, probs[0].tolist())))"])
        return Snippet(code, "open_clip", ["open_clip_torch", "torch", "pillow"],
                       size_note(model, "open_clip"), lang)
    if lib == "flair" and task == "token-classification":
        code = "\n".join([
            "from flair.data import Sentence", "from flair.models import SequenceTagger", "",
            f"tagger = SequenceTagger.load({mid})",
            f"sentence = Sentence({lit(s['entities'])})",
            "tagger.predict(sentence)", "print(sentence)"])
        return Snippet(code, "flair", ["flair"], size_note(model, "flair"), lang)
    if lib == "nemo" and task == "automatic-speech-recognition" and not tags & {"coreml", "onnx"}:
        code = "\n".join([
            "from urllib.request import urlretrieve", "",
            "import nemo.collections.asr as nemo_asr", "",
            f"asr_model = nemo_asr.models.ASRModel.from_pretrained(model_name={mid})",
            f'urlretrieve({lit(s["audio_url"])}, "sample.flac")  # a 16 kHz English clip',
            'print(asr_model.transcribe(["sample.flac"])[0])'])
        return Snippet(code, "nemo", ["nemo_toolkit[asr]"],
                       "The sample clip is English speech. " + size_note(model, "nemo"), lang)
    if lib == "peft" and task == "text-generation" and model.base_model:
        lines = [
            "from peft import AutoPeftModelForCausalLM",
            "from transformers import AutoTokenizer", "",
            f"model = AutoPeftModelForCausalLM.from_pretrained({mid})",
            f"tokenizer = AutoTokenizer.from_pretrained({lit(model.base_model)})"]
        if is_chat(model):
            lines += [f'messages = [{{"role": "user", "content": {lit(s["chat"])}}}]',
                      "inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, "
                      'return_tensors="pt", return_dict=True)']
        else:
            lines += [f'inputs = tokenizer({lit(s["story"])}, return_tensors="pt")']
        lines += [f"outputs = model.generate(**inputs, max_new_tokens={DEMO_MAX_NEW_TOKENS})",
                  'print(tokenizer.decode(outputs[0][inputs["input_ids"].shape[-1]:], '
                  "skip_special_tokens=True))"]
        return Snippet("\n".join(lines), "peft", ["peft", "transformers", "torch"],
                       f"A LoRA adapter on {model.base_model}: the base model's size applies.",
                       lang)
    return None
