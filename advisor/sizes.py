"""Size budgets of a model request: how many parameters the words of a request allow.

:func:`apply_size_budget` reads a request's device, size and memory words ("runs on my
phone", "small", "a 4 GB GPU", "under 300M parameters") into ``max_params`` (the
tightest budget, with the cues behind it) and ``size_limit`` (a limit stated in numbers).
The recommender drops models over ``size_limit`` and ranks those over ``max_params``
lower (:mod:`advisor.pools`). This module knows nothing about which models exist.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from advisor.tasks import ModelRequest


def cue(m: re.Match, what: str) -> str:
    """A human-readable cue: the words matched and what they were read as."""
    return f"'{m.group(0).strip()}' -> {what}"


# Size budgets, each with its reason.
# fp32 weights of a 1.5B model take ~6 GB: the most a 16 GB laptop runs comfortably
# with plain transformers on CPU (quantised GGUF goes further; say so in the answer).
DEFAULT_CPU_MAX_PARAMS = 1_500_000_000
# "small"/"lightweight" in 2026: sub-1B chat models and BERT-size encoders, not 1.5B+ ones.
DEFAULT_SMALL_MAX_PARAMS = 1_000_000_000
# phones, browsers, edge boards: DistilBERT (66M) / MobileBERT (25M) territory.
DEFAULT_MOBILE_MAX_PARAMS = 100_000_000
# ... except for chat/generative models, which nobody runs at 100M: on a phone or a
# Raspberry Pi (4-8 GB of RAM) people run 4-bit 0.3-2B models through llama.cpp-style
# runners (Qwen2.5-0.5B/1.5B, Gemma 3 1B, TinyLlama 1.1B, LFM2.5 1.2B).
DEFAULT_EDGE_LLM_MAX_PARAMS = 2_000_000_000
EDGE_LLM_TASKS = frozenset({"text-generation", "conversational", "image-text-to-text"})
# Memory the user names ("a 4 GB GPU", "8 GB of RAM", "16GB VRAM") -> the largest model
# whose weights fit: half-precision weights take 2 bytes a parameter, 4-bit quantised
# ones (GGUF Q4, AWQ, GPTQ, bitsandbytes 4-bit) ~0.6 with their scales; a quarter of
# the memory is left for activations, the context cache and the system.
BYTES_PER_PARAM = 2.0
BYTES_PER_PARAM_QUANTISED = 0.6
MEMORY_USABLE_SHARE = 0.75

_SIZE_LIMIT = re.compile(
    r"(?:under|below|less than|smaller than|fewer than|at most|max(?:imum)?|up to|<=?|<)\s*"
    r"(\d+(?:\.\d+)?)\s*(b|bn|billion|m|million|k|thousand)\b(?:\s*param\w*)?"
)
_SIZE_UNITS = {"b": 10**9, "bn": 10**9, "billion": 10**9, "m": 10**6, "million": 10**6,
               "k": 10**3, "thousand": 10**3}
_CPU = re.compile(r"\b(cpu|no gpu|without (a )?gpu|laptop|my (pc|computer)|free (tier|colab)|"
                  r"cpu basic|low[- ](memory|ram|resource))\b")
# words that name a computer, not its processor: CPU only unless a GPU is named too
_DEVICE_ONLY = re.compile(r"laptop|my (?:pc|computer)")
_GPU = re.compile(r"\b(?:rtx|gtx|cuda|vram|nvidia|radeon|geforce|\d+\s*gb\s+(?:of\s+)?gpu)\b"
                  r"|\bgpu\b(?<!no gpu)(?<!without gpu)(?<!without a gpu)")
# not inside a model id: "whisper-small", "t5_small", "flair/ner-english-fast" name a
# model the user has, not the size they want
_SMALL = re.compile(r"(?<![-_/.])\b(small|tiny|lightweight|light[- ]weight|compact|fast|quick|cheap|"
                    r"distilled|little)\b(?![_/.]\w)")
_MEMORY = re.compile(
    r"(\d+(?:\.\d+)?)\s*(?:gb|gib)\b(?:\s+of)?(?:\s+(?:unified|system|gpu|graphics|video))?"
    r"\s*(?:v?ram|memory|gpu|graphics card|card)\b"
    r"|\b(?:v?ram|gpu|memory|graphics card)\s+(?:of\s+|with\s+|has\s+)?(?:only\s+)?"
    r"(\d+(?:\.\d+)?)\s*(?:gb|gib)\b")
_QUANTISED = re.compile(r"\b(?:[48][- ]?bit|quanti[sz]\w*|q[2-8]_k\w*|awq|gptq)\b")
# "phone" as the device the model runs on, not what the data is ("phone call recordings",
# "phone numbers in text")
_MOBILE = re.compile(r"\b(mobile|phone(?!\s*(?:calls?|numbers?|conversations?|lines?)\b)|android|"
                     r"ios|iphone|edge device|raspberry|browser|embedded|microcontroller)\b")


def detect_max_params(text: str, task: str | None = None) -> tuple[int | None, bool, list[str]]:
    """``(max parameters, cpu_only, cues)``: the tightest budget any size cue implies;
    a phone or edge board allows more for a generative ``task`` (:data:`EDGE_LLM_TASKS`).

    >>> detect_max_params("a model for my Raspberry Pi")[0]
    100000000
    >>> detect_max_params("a chat model for my Raspberry Pi", "text-generation")[0]
    2000000000
    """
    low = text.lower()
    budgets: list[int] = []
    cues: list[str] = []
    stated = _stated_limit(low)
    if stated:
        n, m = stated
        budgets.append(n)
        cues.append(cue(m, f"max {n:,} parameters"))
    cpu = _CPU.search(low)
    if cpu and _DEVICE_ONLY.fullmatch(cpu.group(0)) and _GPU.search(low):
        cpu = None  # "my laptop's RTX 4070": a computer with a GPU, not CPU only
    if cpu:
        budgets.append(DEFAULT_CPU_MAX_PARAMS)
        cues.append(cue(cpu, f"CPU: max {DEFAULT_CPU_MAX_PARAMS:,} parameters"))
    mobile = DEFAULT_EDGE_LLM_MAX_PARAMS if task in EDGE_LLM_TASKS else DEFAULT_MOBILE_MAX_PARAMS
    for rx, limit, label in ((_SMALL, DEFAULT_SMALL_MAX_PARAMS, "small"),
                             (_MOBILE, mobile, "mobile/edge")):
        s = rx.search(low)
        if s:
            budgets.append(limit)
            cues.append(cue(s, f"{label}: max {limit:,} parameters"))
    return (min(budgets) if budgets else None), bool(cpu), cues


def explicit_size_limit(text: str) -> int | None:
    """The parameter limit the text states in numbers ("under 1B parameters"), or None.

    >>> explicit_size_limit("a classifier under 300M parameters")
    300000000
    >>> explicit_size_limit("a small model for my phone") is None
    True
    """
    stated = _stated_limit(text.lower())
    return stated[0] if stated else None


def _stated_limit(low: str) -> tuple[int, re.Match] | None:
    """``(parameters, match)`` of a limit stated in numbers in lower-cased text."""
    m = _SIZE_LIMIT.search(low)
    return (int(float(m.group(1)) * _SIZE_UNITS[m.group(2)]), m) if m else None


def detect_memory_budget(text: str, library: str | None = None) -> tuple[int | None, str | None]:
    """``(max parameters, cue)`` from a memory size the request names, or ``(None, None)``.

    >>> detect_memory_budget("I only have a 4 GB GPU")[0]
    1500000000
    >>> detect_memory_budget("Mac M1 with 8 GB of RAM, running GGUF models", "gguf")[0]
    10000000000
    >>> detect_memory_budget("my dataset is 8 GB of text")
    (None, None)
    """
    low = text.lower()
    m = _MEMORY.search(low)
    if not m:
        return None, None
    gb = float(m.group(1) or m.group(2))
    quantised = library == "gguf" or bool(_QUANTISED.search(low))
    per_param = BYTES_PER_PARAM_QUANTISED if quantised else BYTES_PER_PARAM
    limit = int(round(gb * MEMORY_USABLE_SHARE / per_param * 10) / 10 * 10**9)
    if limit <= 0:
        return None, None
    kind = "4-bit" if quantised else "16-bit"
    return limit, cue(m, f"{gb:g} GB: max {limit:,} parameters ({kind} weights)")


def apply_size_budget(req: ModelRequest) -> None:
    """Set ``req.max_params``, ``cpu_only`` and their cues from the size, device and memory
    words of ``req.text`` for ``req.task``, and ``size_limit`` from a limit stated in
    numbers; called again when the task is re-inferred (a phone allows a larger chat
    model than a classifier). Replaces earlier size cues."""
    req.cues = [c for c in req.cues if c not in req.size_cues]
    req.max_params, req.cpu_only, cues = detect_max_params(req.text, req.task)
    budget, memory_cue = detect_memory_budget(req.text, req.library)
    if budget:
        req.max_params = min(req.max_params or budget, budget)
        cues.append(memory_cue)
    req.size_cues = cues
    req.cues.extend(cues)
    req.size_limit = explicit_size_limit(req.text)
