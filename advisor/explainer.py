"""Output explainer: pasted model output or error -> what it means and what to do.

Beginners in the study's forum threads often could not read what a model gave back
("Incomprehensible output"): ``LABEL_1`` instead of a class name, logits instead of
probabilities, token ids, sub-word NER pieces, repeated or echoed generations, NaN
losses, shape mismatches, CUDA OOM, the "Some weights ... were not initialized"
warning. :class:`OutputExplainer` runs a list of small, independent detectors over the
pasted text, each returning a :class:`Finding` (meaning, numbered steps, optional worked
details such as the softmax of the pasted logits), and composes one markdown answer with
similar forum threads as citations when a retriever is given.

The detectors are regular expressions plus a tolerant number parser; they never raise
on odd input (unknown input gets a generic, still useful explanation). This module does
not run any model: decoding token ids or loading a config is shown as code to run.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from advisor.config import Config
from advisor.errors import InvalidInputError
from advisor.recommender import validate_model_id
from advisor.types import MODEL_URL, CategoryScore, Citation, Explanation, ModelInfo
from advisor.validate import clean_output_text

log = logging.getLogger(__name__)

DEFAULT_THREAD_K = 3  # similar threads cited: enough to follow up, short to read
MAX_ECHO_CHARS = 2000  # the Explanation keeps a truncated copy of the input
MAX_VECTORS = 5  # rows of numbers worked through in the answer
MAX_VECTOR_LEN = 50  # longer number lists are hidden states/embeddings, not class logits
MIN_TOKEN_IDS = 4  # fewer integers in a list are more likely labels or shapes
REPEAT_MIN_WORDS = 3  # an n-gram of at least this many words...
REPEAT_MIN_TIMES = 3  # ...seen this often counts as a repetition loop
PROB_SUM_TOLERANCE = 0.02  # rows summing to 1 +- this are already probabilities

# Detected kind -> the study's challenge category it belongs to (codebook names).
KIND_CATEGORY: dict[str, str] = {
    "label_ids": "Incomprehensible output",
    "logits": "Incomprehensible output",
    "scores": "Incomprehensible output",
    "token_ids": "Incomprehensible output",
    "ner_subwords": "Incomprehensible output",
    "generation_repetition": "Incomprehensible output",
    "generation_truncated": "Incomprehensible output",
    "generation_echo": "Incomprehensible output",
    "special_tokens": "Incomprehensible output",
    "nan_loss": "Training Pipeline",
    "shape_mismatch": "Training Pipeline",
    "sequence_too_long": "Model Usage and Understanding",
    "cuda_oom": "Memory & Performance",
    "device_mismatch": "Model Usage and Understanding",
    "new_head_warning": "Model Usage and Understanding",
    "unused_weights_warning": "Model Usage and Understanding",
    "tokenizer_padding": "Model Usage and Understanding",
    "model_not_found": "API Usage",
    "pipeline_error": "API Usage",
    "unknown": "Incomprehensible output",
}


@dataclass
class Finding:
    """One recognised pattern in the pasted text."""

    kind: str
    title: str
    meaning: str
    steps: list[str]
    details: str = ""  # worked example (softmax table, decode code)
    query: str = ""  # words for the similar-thread search
    label_map: dict[str, str] = field(default_factory=dict)


# --- numbers ---------------------------------------------------------------------------
_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?inf|nan"
_BRACKET = re.compile(r"\[([^\[\]]{1,20000})\]")
_NUM_RX = re.compile(rf"^(?:{_NUM})$", re.I)


def parse_number_lists(text: str) -> list[list[float]]:
    """Every innermost ``[...]`` whose items are all numbers, as float lists.

    ``tensor([[-1.2, 3.4]])`` -> ``[[-1.2, 3.4]]``; ``array([0.1 0.9])`` (space
    separated) works too. Lists with anything non-numeric are skipped.
    """
    out: list[list[float]] = []
    for m in _BRACKET.finditer(text):
        items = [x for x in re.split(r"[,\s]+", m.group(1).strip()) if x]
        if not items or not all(_NUM_RX.match(x) for x in items):
            continue
        try:
            out.append([float(x) for x in items])
        except ValueError:  # pragma: no cover - the regex already checked
            continue
    return out


def softmax(values: list[float]) -> list[float]:
    """Numerically stable softmax; ``+inf`` entries share all the mass, NaN -> NaN."""
    if not values:
        return []
    if any(math.isnan(v) for v in values):
        return [math.nan] * len(values)
    pos_inf = [v == math.inf for v in values]
    if any(pos_inf):
        n = sum(pos_inf)
        return [1.0 / n if p else 0.0 for p in pos_inf]
    finite = [v for v in values if v != -math.inf]
    if not finite:
        return [1.0 / len(values)] * len(values)
    top = max(finite)
    exps = [0.0 if v == -math.inf else math.exp(v - top) for v in values]
    total = sum(exps)
    return [e / total for e in exps]


def sigmoid(v: float) -> float:
    if math.isnan(v):
        return math.nan
    if v >= 0:
        return 1.0 / (1.0 + math.exp(-v))
    e = math.exp(v)
    return e / (1.0 + e)


def _is_int_like(v: float) -> bool:
    return math.isfinite(v) and v == int(v)


# --- detectors -------------------------------------------------------------------------
_LABEL_N = re.compile(r"\bLABEL_(\d{1,4})\b")


def _detect_label_ids(text: str, ctx: _Context) -> Finding | None:
    labels = sorted({int(n) for n in _LABEL_N.findall(text)})
    if not labels:
        return None
    names = [f"LABEL_{n}" for n in labels]
    known = {k: v for k, v in ctx.label_map.items() if k in names} if ctx.label_map else {}
    if known:
        lines = "; ".join(f"`{k}` = **{v}**" for k, v in sorted(known.items()))
        meaning = (f"The model returns generic label names. For `{ctx.model_id}`, its card "
                   f"states: {lines}.")
    else:
        meaning = ("`LABEL_0`, `LABEL_1`, ... are placeholder names: the model's config has no "
                   "human-readable `id2label` mapping, so the pipeline prints the class index. "
                   "The index order is whatever the fine-tuner used (often 0 = negative, "
                   "1 = positive for sentiment, but check: it is not a rule).")
    steps = [
        "Look up the mapping: `AutoConfig.from_pretrained(model_id).id2label`, or the model "
        "card's label section.",
        "If the config only says LABEL_n, read the card or the training dataset's label order "
        "(e.g. `dataset.features['label'].names`).",
        "Fix it for good: `model.config.id2label = {0: 'negative', 1: 'positive'}` and "
        "`label2id` accordingly before `save_pretrained`/`push_to_hub`.",
    ]
    details = ("```python\nfrom transformers import AutoConfig\n"
               f"cfg = AutoConfig.from_pretrained(\"{ctx.model_id or 'MODEL_ID'}\")\n"
               "print(cfg.id2label)  # {0: 'LABEL_0', ...} means nobody named them\n```")
    return Finding("label_ids", "Generic class labels (LABEL_n)", meaning, steps, details,
                   query="LABEL_0 LABEL_1 meaning id2label labels", label_map=known)


def _softmax_table(rows: list[list[float]], label_map: Mapping[str, str]) -> str:
    out = []
    for row in rows[:MAX_VECTORS]:
        probs = softmax(row)
        cells = []
        for i, (v, p) in enumerate(zip(row, probs, strict=True)):
            name = label_map.get(f"LABEL_{i}", f"LABEL_{i}")
            cells.append(f"| {i} | {name} | {v:g} | {p:.4f} |")
        best = max(range(len(probs)), key=lambda i: -1 if math.isnan(probs[i]) else probs[i])
        out.append("| index | label | logit | softmax probability |\n|---|---|---|---|\n"
                   + "\n".join(cells)
                   + f"\n\nPredicted class: index {best} "
                     f"({label_map.get(f'LABEL_{best}', f'LABEL_{best}')}).")
    return "\n\n".join(out)


def _detect_logits(text: str, ctx: _Context) -> Finding | None:
    says_logits = bool(re.search(r"logits", text, re.I))
    rows = [r for r in parse_number_lists(text) if 2 <= len(r) <= MAX_VECTOR_LEN]
    if not says_logits:  # integer lists are token ids or labels unless called logits
        rows = [r for r in rows if not all(_is_int_like(v) for v in r)]
    if not rows:
        return None
    probs_like = all(
        all(0.0 <= v <= 1.0 for v in r) and abs(sum(r) - 1.0) <= PROB_SUM_TOLERANCE for r in rows
    )
    if probs_like and not says_logits:
        best = [max(range(len(r)), key=lambda i: r[i]) for r in rows[:MAX_VECTORS]]
        return Finding(
            "scores", "Probabilities (each row sums to 1)",
            "These numbers are already probabilities: each row sums to 1, so the model applied "
            f"softmax. The predicted class is the largest value (index {best[0]} in the first "
            "row).",
            ["Map the index to a name with `model.config.id2label[index]`.",
             "If you need a confidence threshold, decide it on a labelled sample, not by eye."],
            query="probabilities scores softmax output meaning")
    in_unit = all(0.0 <= v <= 1.0 for r in rows for v in r)
    if in_unit and not says_logits:
        return Finding(
            "scores", "Independent scores (rows do not sum to 1)",
            "All values lie between 0 and 1 but a row does not sum to 1: these look like "
            "independent per-label scores (a sigmoid, multi-label model), so several labels "
            "can be true at once.",
            ["Threshold each score (0.5 is a starting point) instead of taking the maximum.",
             "Check `model.config.problem_type` (`multi_label_classification`)."],
            query="multi-label sigmoid scores threshold")
    table = _softmax_table(rows, ctx.label_map)
    return Finding(
        "logits", "Raw logits (unnormalised scores)",
        "These are **logits**: raw scores straight out of the model's last layer (they can be "
        "negative and do not sum to 1). Apply softmax to get probabilities; the largest logit "
        "is the predicted class either way.",
        ["`probs = torch.softmax(outputs.logits, dim=-1)` (single-label) or "
         "`torch.sigmoid(outputs.logits)` (multi-label).",
         "`pred = probs.argmax(-1).item()` then `model.config.id2label[pred]`.",
         "Or let `pipeline(\"text-classification\", model=..., top_k=None)` do both for you."],
        details="Softmax of the numbers you pasted:\n\n" + table,
        query="logits softmax probabilities model output")


_IDS_CONTEXT = re.compile(r"input_ids|token[_ ]?ids|generate\(|sequences|tensor\(\[\[", re.I)
_SPECIAL_IDS = {101: "[CLS] (BERT)", 102: "[SEP] (BERT)", 0: "[PAD]/<s>", 50256: "<|endoftext|> (GPT-2)",
                1: "</s> or <pad>", 2: "</s>"}


def _detect_token_ids(text: str, ctx: _Context) -> Finding | None:
    rows = [r for r in parse_number_lists(text)
            if len(r) >= MIN_TOKEN_IDS and all(_is_int_like(v) and v >= 0 for v in r)]
    if not rows:
        return None
    if not _IDS_CONTEXT.search(text) and max(max(r) for r in rows) < 100:
        return None  # small integers without context: shapes or labels, not tokens
    ids = [int(v) for v in rows[0]]
    special = sorted({f"{i} = {_SPECIAL_IDS[i]}" for i in ids if i in _SPECIAL_IDS})
    meaning = ("These integers are **token ids**: positions in the tokenizer's vocabulary, "
               "which is what `generate()` and `tokenizer(...)` return. They become text only "
               "after decoding with the *same* tokenizer as the model.")
    if special:
        meaning += " Ids that are probably special tokens: " + ", ".join(special) + "."
    mid = ctx.model_id or "MODEL_ID"
    details = ("```python\nfrom transformers import AutoTokenizer\n"
               f"tok = AutoTokenizer.from_pretrained(\"{mid}\")\n"
               f"print(tok.decode({ids[:20]}, skip_special_tokens=True))\n"
               "# many sequences: tok.batch_decode(output_ids, skip_special_tokens=True)\n```")
    return Finding(
        "token_ids", "Token ids, not text",
        meaning,
        ["Decode with the model's tokenizer: `tokenizer.decode(ids, skip_special_tokens=True)` "
         "(or `batch_decode` for a batch).",
         "For generation, slice off the prompt first: `out[0][inputs['input_ids'].shape[1]:]`.",
         "Or use `pipeline(...)`, which decodes for you."],
        details, query="decode token ids generate output tokenizer")


_NER = re.compile(r"\b[BIES]-(PER|ORG|LOC|MISC|[A-Z]{2,10})\b|['\"]entity['\"]\s*:", re.I)
_SUBWORD = re.compile(r"['\"]word['\"]\s*:\s*['\"](##|▁|Ġ)|##\w")


def _detect_ner(text: str, ctx: _Context) -> Finding | None:
    if not _NER.search(text):
        return None
    pieces = bool(_SUBWORD.search(text))
    meaning = ("This is token-classification (NER) output in **BIO tags**: `B-X` starts an "
               "entity of type X, `I-X` continues it, `O` is outside any entity "
               "(PER = person, ORG = organisation, LOC = location, MISC = other).")
    if pieces:
        meaning += (" Words split into pieces (`##ing`, `▁`, `Ġ`) are sub-word tokens: the "
                    "pipeline scored each piece separately.")
    return Finding(
        "ner_subwords", "NER tags and sub-word pieces",
        meaning,
        ["Group pieces into whole entities: `pipeline(\"ner\", model=..., "
         "aggregation_strategy=\"simple\")` (\"first\"/\"max\" for word-level models).",
         "Use the `start`/`end` offsets to cut the entity text from your input.",
         "If labels read LABEL_n instead of B-PER etc., see `model.config.id2label`."],
        query="NER subword tokens aggregation_strategy entities B- I- tags")


_GEN_CONTEXT = re.compile(r"generated_text|generate\(|\bgenerat(ed|ion)\b", re.I)
_SPECIAL_TOKENS = re.compile(r"<pad>|</s>|<s>|<\|endoftext\|>|<unk>|\[PAD\]|\[CLS\]|\[SEP\]|"
                             r"\[UNK\]|<\|im_end\|>|<\|eot_id\|>|<eos>|<bos>")


def repeated_ngram(text: str, n: int = REPEAT_MIN_WORDS,
                   times: int = REPEAT_MIN_TIMES) -> str | None:
    """The first ``n``-word phrase repeated at least ``times`` times, or ``None``."""
    words = re.findall(r"\w+", text.lower())
    counts: dict[tuple[str, ...], int] = {}
    for i in range(len(words) - n + 1):
        key = tuple(words[i:i + n])
        counts[key] = counts.get(key, 0) + 1
        if counts[key] >= times and len(set(key)) > 1 or counts[key] >= times + 2:
            return " ".join(key)
    return None


def _generated_texts(text: str) -> list[str]:
    return [m.group(2) for m in re.finditer(
        r"generated_text['\"]\s*:\s*(['\"])((?:\\.|(?!\1).){0,20000})\1", text, re.S)]


def _detect_repetition(text: str, ctx: _Context) -> Finding | None:
    if "Traceback" in text:
        return None
    phrase = repeated_ngram(text)
    if not phrase:
        return None
    return Finding(
        "generation_repetition", "Repetition loop in generated text",
        f"The text repeats itself (\"{phrase[:60]}\" appears again and again). Greedy "
        "decoding (the default) picks the single most likely next token, and small or "
        "base models easily fall into loops.",
        ["Sample instead of greedy: `do_sample=True, temperature=0.7, top_p=0.9`.",
         "Forbid repeats: `no_repeat_ngram_size=3` and/or `repetition_penalty=1.2`.",
         "Use an instruction-tuned model with its chat template for chat-like prompts.",
         "Cap the length: `max_new_tokens=100`."],
        query="generated text repeats itself repetition_penalty no_repeat_ngram_size")


def _detect_truncated(text: str, ctx: _Context) -> Finding | None:
    texts = _generated_texts(text)
    if not texts:
        return None
    cut = [t for t in texts if t.strip() and not re.search(r"[.!?\"')\]}]\s*$", t.strip())]
    if not cut:
        return None
    return Finding(
        "generation_truncated", "Generation stops mid-sentence",
        "The generated text ends abruptly: generation stopped at the token limit "
        "(`max_length`/`max_new_tokens`, default 20 tokens in older setups), not because the "
        "model finished.",
        ["Raise the budget: `pipe(prompt, max_new_tokens=200)` (prefer `max_new_tokens` over "
         "`max_length`, which counts the prompt too).",
         "For summarisation, also check `min_length`/`max_length` in the model's "
         "generation config."],
        query="generated text truncated max_new_tokens max_length")


def _detect_echo(text: str, ctx: _Context) -> Finding | None:
    if not _generated_texts(text):
        return None
    return Finding(
        "generation_echo", "The output starts with your prompt",
        "The text-generation pipeline returns the prompt followed by the continuation by "
        "default (`generated_text` = prompt + new text), which looks like the model is "
        "repeating you.",
        ["Return only the new text: `pipe(prompt, return_full_text=False)`.",
         "With `model.generate`, decode only the new tokens: "
         "`out[0][inputs['input_ids'].shape[1]:]`."],
        query="text generation pipeline returns prompt return_full_text")


def _detect_special_tokens(text: str, ctx: _Context) -> Finding | None:
    found = sorted(set(_SPECIAL_TOKENS.findall(text)))
    if not found:
        return None
    return Finding(
        "special_tokens", "Special tokens in the text",
        f"{', '.join(f'`{t}`' for t in found)} are special tokens (padding, start/end of "
        "sequence, separators) that the tokenizer added; they are not words the model "
        "\"said\".",
        ["Decode with `skip_special_tokens=True`.",
         "For batched generation with decoder-only models, pad on the left: "
         "`tokenizer.padding_side = \"left\"`.",
         "Set `pad_token_id` explicitly when the tokenizer has none "
         "(`tokenizer.pad_token = tokenizer.eos_token`)."],
        query="special tokens pad </s> in output skip_special_tokens")


_NAN = re.compile(r"(loss|grad_norm|train_loss|eval_loss)['\"]?\s*[:=]?\s*(tensor\()?\s*[-+]?"
                  r"(nan|inf)\b|\bnan loss\b|loss (is|becomes|became|goes to) (nan|inf)|"
                  r"loss.{0,40}\bnan\b", re.I)


def _detect_nan_loss(text: str, ctx: _Context) -> Finding | None:
    if not _NAN.search(text):
        return None
    return Finding(
        "nan_loss", "NaN / inf loss",
        "The loss became NaN or infinite: training diverged or a value overflowed. The usual "
        "causes are a learning rate that is too high, fp16 overflow, labels outside "
        "`0..num_labels-1` (or -100 everywhere), or empty/invalid inputs in a batch.",
        ["Lower the learning rate (2e-5 to 5e-5 is typical for fine-tuning transformers) and "
         "add warmup (`warmup_ratio=0.1`).",
         "Try without `fp16=True`, or use `bf16=True` on hardware that supports it.",
         "Check labels: `set(dataset['label'])` must be within `range(num_labels)`; for "
         "regression use float labels and `num_labels=1`.",
         "Clip gradients (`max_grad_norm=1.0`, the Trainer default) and look for empty "
         "texts in the data."],
        query="loss nan training diverges fp16 learning rate")


_SHAPE = re.compile(r"size mismatch for|shape mismatch|mat1 and mat2 shapes cannot be multiplied|"
                    r"must match the size of tensor|Expected input batch_size|"
                    r"don't match|does not match the (expected )?shape|"
                    r"Target size .{0,60} must be the same as input size", re.I)
_SEQ = re.compile(r"Token indices sequence length is longer than the specified maximum|"
                  r"index out of range in self|sequence length .{0,40} exceeds|"
                  r"longer than the (model's )?maximum", re.I)


def _detect_shapes(text: str, ctx: _Context) -> Finding | None:
    if _SEQ.search(text):
        return Finding(
            "sequence_too_long", "Input longer than the model's maximum length",
            "The input has more tokens than the model's position embeddings allow (512 for "
            "BERT-like models). \"index out of range in self\" in an embedding layer usually "
            "means exactly this (or token ids from a different tokenizer).",
            ["Truncate: `tokenizer(text, truncation=True, max_length=512)` or "
             "`pipe(text, truncation=True)`.",
             "For long documents, split into overlapping chunks and aggregate, or pick a "
             "long-context model (Longformer, BigBird, modern LLMs).",
             "Make sure tokenizer and model come from the same checkpoint."],
            query="index out of range in self sequence length longer than maximum truncation")
    if not _SHAPE.search(text):
        return None
    head = bool(re.search(r"classifier|score\.weight|lm_head|num_labels|out_proj", text, re.I))
    steps = [
        "If you load a checkpoint into a model with a different number of labels: "
        "`from_pretrained(model_id, num_labels=N, ignore_mismatched_sizes=True)` and "
        "fine-tune the new head.",
        "Check that `num_labels`, `id2label` and the labels in your data agree.",
        "For loss shape errors, check label dtype/shape: class indices (long, shape [batch]) "
        "for single-label, float multi-hot (shape [batch, num_labels]) for multi-label.",
        "Print `input_ids.shape` and `labels.shape` of one batch from your collator.",
    ]
    meaning = ("Two tensors that must fit together do not: the shapes in the message show "
               "which. ")
    meaning += ("Here the classification head differs: the checkpoint was trained with "
                "another number of labels than you asked for." if head else
                "Common causes: a head with another number of labels, labels of the wrong "
                "shape, or inputs padded/truncated inconsistently.")
    return Finding("shape_mismatch", "Shape / size mismatch", meaning, steps,
                   query="size mismatch classifier weight num_labels ignore_mismatched_sizes")


_OOM = re.compile(r"CUDA out of memory|OutOfMemoryError|out of memory|MPS backend out of "
                  r"memory|CUBLAS_STATUS_ALLOC_FAILED|Killed\s*$", re.I | re.M)


def _detect_oom(text: str, ctx: _Context) -> Finding | None:
    if not _OOM.search(text):
        return None
    return Finding(
        "cuda_oom", "Out of memory",
        "The model, its activations and optimizer state did not fit in (GPU) memory. "
        "Fine-tuning needs roughly 4x the weights' memory (weights, gradients, Adam states) "
        "plus activations, which grow with batch size and sequence length.",
        ["Lower `per_device_train_batch_size` and use `gradient_accumulation_steps` to keep "
         "the effective batch.",
         "Shorten sequences (`max_length=256`) and enable `gradient_checkpointing=True`.",
         "Use mixed precision (`fp16=True`/`bf16=True`) or load in 8/4-bit "
         "(bitsandbytes) with LoRA (peft) for large models.",
         "At inference: `torch.no_grad()`, smaller batches, `torch_dtype=torch.float16`, and "
         "free memory between runs (`del model; torch.cuda.empty_cache()`)."],
        query="CUDA out of memory batch size fine-tuning")


def _detect_device(text: str, ctx: _Context) -> Finding | None:
    if not re.search(r"Expected all tensors to be on the same device|"
                     r"Input type \(.*\) and weight type \(.*\) should be the same", text):
        return None
    return Finding(
        "device_mismatch", "Tensors on different devices",
        "The model is on one device (e.g. `cuda:0`) and the inputs on another (CPU).",
        ["Move both: `model.to(device)` and `inputs = {k: v.to(device) for k, v in "
         "inputs.items()}`.",
         "With pipelines, pass `device=0` (GPU) or `device_map=\"auto\"` instead of moving "
         "by hand."],
        query="expected all tensors to be on the same device cuda cpu")


_NEW_HEAD = re.compile(r"Some weights of \S+ were not initialized from the model checkpoint|"
                       r"You should probably TRAIN this model|newly initialized", re.I)
_UNUSED = re.compile(r"Some weights of the model checkpoint at \S+ were not used", re.I)


def _detect_weights_warnings(text: str, ctx: _Context) -> list[Finding]:
    out = []
    if _NEW_HEAD.search(text):
        layers = re.findall(r"\['([\w.]+)'", text)[:4]
        out.append(Finding(
            "new_head_warning", "\"Some weights ... were not initialized\" (new head)",
            "This warning is **expected** when you load a pre-trained base model with a new "
            "task head (e.g. `AutoModelForSequenceClassification` on `bert-base-uncased`): the "
            f"head{' (' + ', '.join(layers) + ')' if layers else ''} starts random. "
            "Predictions are meaningless until you fine-tune it.",
            ["Fine-tune on labelled data (Trainer or your own loop) before using predictions.",
             "If you wanted a ready-made classifier, load a checkpoint already fine-tuned for "
             "your task (search the Hub by task), and the warning disappears.",
             "If the warning names layers you expected to be loaded, check that the checkpoint "
             "and the model class match (same architecture)."],
            query="Some weights were not initialized from the model checkpoint newly initialized"))
    if _UNUSED.search(text):
        out.append(Finding(
            "unused_weights_warning", "\"Some weights of the checkpoint were not used\"",
            "The checkpoint contains layers your model class does not use (e.g. the "
            "pre-training heads of BERT when you load it for classification). This is "
            "expected in that case and harmless.",
            ["Nothing to do if you are loading a base model into a task model on purpose.",
             "If you expected the layers to be used, load the matching class "
             "(e.g. `AutoModelForMaskedLM` for a fill-mask checkpoint)."],
            query="Some weights of the model checkpoint were not used"))
    return out


_PAD = re.compile(r"Asking to pad but the tokenizer does not have a padding token|"
                  r"Setting `?pad_token_id`? to `?eos_token_id`?|attention mask and the pad "
                  r"token id were not set|Truncation was not explicitly activated|"
                  r"A decoder-only architecture is being used, but right-padding", re.I)


def _detect_padding(text: str, ctx: _Context) -> Finding | None:
    m = _PAD.search(text)
    if not m:
        return None
    return Finding(
        "tokenizer_padding", "Tokenizer padding / truncation warning",
        f"\"{m.group(0)}\": the tokenizer was not told how to pad or truncate. GPT-style "
        "tokenizers have no padding token; the warning about `pad_token_id` during "
        "generation is harmless.",
        ["For batches with GPT-style models: `tokenizer.pad_token = tokenizer.eos_token` and "
         "`tokenizer.padding_side = \"left\"` for generation.",
         "Pass `attention_mask` (from `tokenizer(..., return_tensors='pt')`) and "
         "`pad_token_id=tokenizer.eos_token_id` to `generate`.",
         "Call the tokenizer with `padding=True, truncation=True` (and `max_length`)."],
        query="tokenizer does not have a padding token pad_token eos_token")


_NOT_FOUND = re.compile(r"Repository Not Found|is not a valid model identifier|"
                        r"does not appear to have a file named|401 Client Error|"
                        r"gated repo|Can't load (the )?(tokenizer|config|model) for|"
                        r"We couldn't connect to|OSError: .{0,80} is not a local folder", re.I)
_PIPE_ERR = re.compile(r"(KeyError|ValueError|TypeError|AttributeError|ImportError)"
                       r"(: .{0,200})?", re.I)


def _detect_errors(text: str, ctx: _Context) -> Finding | None:
    if _NOT_FOUND.search(text):
        return Finding(
            "model_not_found", "Model files could not be loaded",
            "transformers could not find or download the model files: a misspelled id, a "
            "private or gated repository without a token, a missing file (e.g. no tokenizer "
            "files in the repo), or no internet access.",
            ["Check the id on the model page (`owner/name`, exact case).",
             "Gated/private models: accept the conditions on the page, then `hf auth login` "
             "or set `HF_TOKEN`.",
             "A missing tokenizer: load it from the base model the card names.",
             "Offline: download once with `snapshot_download` and load from the local path."],
            query="OSError can't load model repository not found token gated")
    m = _PIPE_ERR.search(text)
    if not m:
        return None
    err = m.group(1)
    detail = (m.group(2) or "").strip(": ")
    meaning = f"A `{err}` was raised"
    if err == "KeyError" and re.search(r"KeyError: '\w+'", text) and re.search(
            r"CONFIG_MAPPING|model_type|configuration_auto", text):
        meaning += (": your transformers version does not know this model type. Upgrade "
                    "transformers (`pip install -U transformers`).")
    elif "task" in detail.lower() or "Unknown task" in text:
        meaning += ": the pipeline task name is not one transformers knows, or does not fit "
        meaning += "this model. Use the task the model card lists (its pipeline tag)."
    else:
        meaning += (f" ({detail[:120]})." if detail else ".") + (
            " Read the last line of the traceback first: it names what was missing or "
            "invalid; the lines above show where in your code it happened.")
    return Finding(
        "pipeline_error", f"{err} in your code or the pipeline", meaning,
        ["Check the task and model match: the pipeline tag on the model page.",
         "Print the inputs you pass (type and a sample) - pipelines expect str or list of str "
         "for text tasks.",
         "Upgrade transformers if the model is newer than your installation.",
         "If it persists, post the full traceback and the versions (`transformers-cli env`) "
         "on the forum."],
        query=f"{err} pipeline error {detail[:80]}")


@dataclass
class _Context:
    model_id: str | None
    label_map: dict[str, str]


Detector = Callable[[str, _Context], "Finding | list[Finding] | None"]
# Order = order of the sections in the answer: errors first, then output reading.
DETECTORS: tuple[Detector, ...] = (
    _detect_oom, _detect_nan_loss, _detect_shapes, _detect_device, _detect_errors,
    _detect_weights_warnings, _detect_padding, _detect_label_ids, _detect_logits,
    _detect_token_ids, _detect_ner, _detect_repetition, _detect_truncated, _detect_echo,
    _detect_special_tokens,
)


def detect(text: str, model_id: str | None = None,
           label_map: Mapping[str, str] | None = None) -> list[Finding]:
    """All findings for ``text``; a detector that fails is logged and skipped."""
    ctx = _Context(model_id, dict(label_map or {}))
    out: list[Finding] = []
    for det in DETECTORS:
        try:
            res = det(text, ctx)
        except Exception:  # a parser bug must not cost the user the other findings
            log.exception("detector %s failed", det.__name__)
            continue
        if isinstance(res, Finding):
            out.append(res)
        elif res:
            out.extend(res)
    return out


def _generic() -> Finding:
    return Finding(
        "unknown", "No known pattern recognised",
        "I could not match this to a known output or error pattern.",
        ["If it is an error, paste the full traceback: the last line says what failed, the "
         "lines above where.",
         "If it is model output, say which model and task produced it: the model card "
         "(labels, intended use, example code) explains its outputs.",
         "Print the model's config (`model.config`) for label names and generation "
         "defaults.",
         "Compare with the card's own usage example run unchanged: if that works, the "
         "difference is in your inputs or settings."],
        query="unexpected model output what does it mean")


class OutputExplainer:
    """Explains pasted outputs/errors; see the module docstring.

    Args:
        index_or_models: an ``AdvisorIndex`` or a ``{model id: ModelInfo}`` mapping (for
            label maps stated in model cards); ``None`` works too.
        retriever: optional ``search(query, k, kinds=None, doc_ids=None) -> list[Hit]``
            for similar forum threads.
        cfg: limits for the pasted text (``max_output_chars``).
    """

    def __init__(self, index_or_models: Any = None, retriever: Any = None,
                 cfg: Config | None = None):
        if index_or_models is None or isinstance(index_or_models, Mapping):
            self.models: Mapping[str, ModelInfo] = index_or_models or {}
            self.models_2022: Mapping[str, ModelInfo] = {}
        else:
            self.models = getattr(index_or_models, "models", {}) or {}
            self.models_2022 = getattr(index_or_models, "models_2022", {}) or {}
        self.retriever = retriever
        self.cfg = cfg or Config()

    def label_map_for(self, model_id: str | None) -> dict[str, str]:
        """The label map a card of ``model_id`` states (2026 records carry none)."""
        if not model_id:
            return {}
        for source in (self.models, self.models_2022):
            m = source.get(model_id)
            if m is not None and m.label_map:
                return dict(m.label_map)
        return {}

    def _threads(self, query: str) -> list[Citation]:
        if self.retriever is None or not query:
            return []
        try:
            hits = self.retriever.search(query, k=DEFAULT_THREAD_K, kinds=["thread"])
        except Exception:  # citations are a bonus: the explanation stands without them
            log.exception("thread retrieval failed")
            return []
        out: list[Citation] = []
        for h in hits:
            if h.doc_id not in {c.id for c in out}:
                out.append(Citation(kind="thread", id=h.doc_id, url=h.url, title=h.title))
        return out

    def explain(self, text: str, model_id: str | None = None) -> Explanation:
        """Explain ``text``. Raises :class:`InvalidInputError` when it is empty/too long,
        :class:`~advisor.errors.InvalidModelIdError` for a malformed ``model_id``."""
        text = clean_output_text(text, self.cfg)
        if model_id is not None and str(model_id).strip():
            model_id = validate_model_id(model_id)
        else:
            model_id = None
        label_map = self.label_map_for(model_id)
        findings = detect(text, model_id, label_map)
        notes: list[str] = []
        if not findings:
            findings = [_generic()]
        if model_id and model_id not in self.models and model_id not in self.models_2022:
            notes.append(f"{model_id} is not in the index; label names could not be looked up.")
        citations = self._threads(" ".join(f.query for f in findings[:2]))
        if model_id:
            citations.append(Citation(kind="model", id=f"model:{model_id}",
                                      url=MODEL_URL.format(id=model_id), title=model_id))
        answer = self._compose(findings, citations)
        cats: dict[str, float] = {}
        for i, f in enumerate(findings):
            cat = KIND_CATEGORY.get(f.kind, "Incomprehensible output")
            cats.setdefault(cat, round(max(0.3, 0.9 - 0.2 * i), 2))
        return Explanation(
            text=text[:MAX_ECHO_CHARS],
            kinds=[f.kind for f in findings],
            answer=answer,
            label_map=label_map,
            model_id=model_id,
            citations=citations,
            categories=[CategoryScore(c, "", s) for c, s in cats.items()],
            notes=notes,
        )

    @staticmethod
    def _compose(findings: list[Finding], citations: list[Citation]) -> str:
        parts = ["**What this looks like:** " + "; ".join(f.title for f in findings) + "."]
        for f in findings:
            parts.append(f"### {f.title}\n\n**What it means.** {f.meaning}")
            parts.append("**What to do**\n\n" + "\n".join(
                f"{i}. {s}" for i, s in enumerate(f.steps, 1)))
            if f.details:
                parts.append(f.details)
        threads = [c for c in citations if c.kind == "thread"]
        if threads:
            parts.append("### Similar forum threads\n\n" + "\n".join(
                f"- [{c.title or c.id}]({c.url})" for c in threads))
        return "\n\n".join(parts)


def explain_output(text: str, model_id: str | None = None,
                   models: Mapping[str, ModelInfo] | None = None) -> Explanation:
    """Convenience wrapper: explain without an index or retriever."""
    if not isinstance(text, str):
        raise InvalidInputError("Paste the output or error as text.")
    return OutputExplainer(models).explain(text, model_id)
