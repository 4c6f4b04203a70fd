"""Facts about a model record that every stage reads: its id (validated), size,
family, languages and the features the ranking uses.

Pure functions of a :class:`~advisor.types.ModelInfo` or a model id; nothing here ranks,
reads a request or looks at the Hub.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from advisor.errors import InvalidModelIdError
from advisor.tasks import MULTILINGUAL
from advisor.types import ModelInfo

MULTILINGUAL_MIN_LANGUAGES = 5  # a card listing this many languages counts as multilingual
MAX_PER_FAMILY = 2  # at most this many size/format variants of one model in a top list

# Models whose record has no (or a generic) pipeline tag, recognised by name. They join
# the candidates with RELATED_TASK_PENALTY and a warning that the task was inferred.
INFERRED_TASKS: tuple[tuple[str, str], ...] = (
    (r"trocr|\bocr\b|-ocr", "image-to-text"),
    (r"image-captioning|captioning", "image-to-text"),
    (r"\bvqa\b|-vqa", "visual-question-answering"),
    (r"\bclip-vit|^openai/clip|\bclip\b", "zero-shot-image-classification"),
    (r"tapas.*(wtq|sqa|wikisql)", "table-question-answering"),
)
INFER_RX = [(re.compile(rx), task) for rx, task in INFERRED_TASKS]

# Model families and how forum posts spell them (regex on lower-case text). Longest /
# most specific first; a model id can belong to several ("xlm-roberta" and "roberta").
FAMILY_PATTERNS: dict[str, str] = {
    "distilbert": r"distil-?bert",
    "xlm-roberta": r"xlm-?r(oberta)?\b",
    "roberta": r"\broberta\b",
    "deberta": r"\bdeberta",
    "albert": r"\balbert\b",
    "camembert": r"\bcamembert\b",
    "electra": r"\belectra\b",
    "longformer": r"\blongformer\b",
    "bigbird": r"\bbig-?bird\b",
    "layoutlm": r"\blayoutlm",
    "bert": r"\bbert\b",
    "distilgpt2": r"distil-?gpt-?2",
    "gpt2": r"\bgpt-?2\b",
    "gpt-neo": r"\bgpt-?neo",
    "gpt-j": r"\bgpt-?j\b",
    "dialogpt": r"\bdialo-?gpt",
    "bloom": r"\bbloom",
    "llama": r"\bllama",
    "mistral": r"\bmistral\b",
    "qwen": r"\bqwen",
    "gemma": r"\bgemma",
    "flan-t5": r"\bflan-?t5\b",
    "mt5": r"\bmt5\b",
    "t5": r"\bt5\b",
    "mbart": r"\bmbart",
    "bart": r"\bbart\b",
    "pegasus": r"\bpegasus\b",
    "marian": r"\bmarian|opus-mt",
    "wav2vec2": r"\bwav2vec-?2?",
    "whisper": r"\bwhisper\b",
    "hubert": r"\bhubert\b",
    "vit": r"\bvit\b",
    "detr": r"\bdetr\b",
    "clip": r"\bclip\b",
    "blip": r"\bblip",
    "tapas": r"\btapas\b",
    "xlnet": r"\bxlnet\b",
    "sentence-transformers": r"sentence[- ]transformers?|\bsbert\b",
    "stable-diffusion": r"stable[- ]diffusion",
}
FAMILY_RX = {name: re.compile(rx) for name, rx in FAMILY_PATTERNS.items()}

# Parameter estimates from name parts, when the record has no count (2022 snapshot).
_EXPLICIT_SIZE = re.compile(r"(?<![a-z0-9.])(\d+(?:\.\d+)?)([bm])(?![a-z0-9])")
SIZE_WORDS: tuple[tuple[str, int], ...] = (
    ("xxl", 11_000_000_000),  # t5-xxl 11B, mt5-xxl 13B
    ("xl", 1_500_000_000),  # gpt2-xl 1.5B, t5-3b is spelled "3b"
    ("large", 500_000_000),  # bert-large 340M .. t5-large 770M
    ("medium", 350_000_000),  # gpt2-medium
    ("base", 150_000_000),  # bert-base 110M, roberta-base 125M, t5-base 220M
    ("small", 60_000_000),  # t5-small 60M
    ("mini", 33_000_000),
    ("tiny", 15_000_000),
)
PREFIX_SIZES: tuple[tuple[str, int], ...] = (
    ("distil", 80_000_000),  # distilbert 66M, distilgpt2 82M, distilroberta 82M
    ("minilm", 33_000_000),
    ("tinybert", 15_000_000),
    ("mobilebert", 25_000_000),
)
QUANTISED_UNDERCOUNT = 3  # name size > 3x the record's count: trust the name
KNOWN_SIZES: dict[str, int] = {"gpt2": 124_000_000, "distilgpt2": 82_000_000}

_ID_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
MAX_ID_PART = 96  # the Hub's limit for a repo name


def validate_model_id(s: Any) -> str:
    """Return a clean Hub model id or raise :class:`InvalidModelIdError`.

    Accepts ``owner/name``, legacy single names (``bert-base-uncased``) and model page
    URLs (``https://huggingface.co/owner/name``, the id is extracted). Rejects paths,
    other URLs, control characters, empty parts and parts longer than 96 characters.
    """
    expected = ("Expected a Hub model id such as 'distilbert-base-uncased' or "
                "'cardiffnlp/twitter-roberta-base-sentiment' (owner/name, letters, digits, "
                "'-', '_', '.').")
    if not isinstance(s, str):
        raise InvalidModelIdError(f"Model id must be text, got {type(s).__name__}. {expected}")
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in s):
        raise InvalidModelIdError(f"Model id contains control characters. {expected}")
    s = s.strip()
    if not s:
        raise InvalidModelIdError(f"Model id is empty. {expected}")
    if "://" in s or s.lower().startswith(("huggingface.co/", "hf.co/")):
        url = urlparse(s if "://" in s else "https://" + s)
        if url.scheme not in ("http", "https") or url.hostname not in (
            "huggingface.co", "www.huggingface.co", "hf.co"
        ):
            raise InvalidModelIdError(
                f"Only huggingface.co model URLs are accepted, got {s[:100]!r}. {expected}"
            )
        parts = [p for p in url.path.split("/") if p]
        if parts and parts[0] in ("models",):
            parts = parts[1:]
        # /owner/name/tree/main, /owner/name/blob/... -> owner/name
        for marker in ("tree", "blob", "resolve", "discussions", "commits"):
            if marker in parts[1:]:
                parts = parts[: parts.index(marker, 1)]
        if parts and parts[0] in ("datasets", "spaces"):
            raise InvalidModelIdError(f"That URL points to a {parts[0][:-1]}, not a model. "
                                      f"{expected}")
        s = "/".join(parts[:2])
        if not s:
            raise InvalidModelIdError(f"The URL has no model id in it. {expected}")
    if s.lower().startswith(("huggingface.co/", "www.huggingface.co/", "hf.co/")):
        # "huggingface.co/huggingface.co/x": the host again after the URL was unwrapped
        raise InvalidModelIdError(f"{s[:100]!r} is not a valid model id. {expected}")
    parts = s.split("/")
    if len(parts) > 2:
        raise InvalidModelIdError(f"{s[:100]!r} has {len(parts) - 1} slashes. {expected}")
    for part in parts:
        if part in ("", ".", "..") or not _ID_PART.match(part) or ".." in part:
            raise InvalidModelIdError(f"{s[:100]!r} is not a valid model id. {expected}")
        if len(part) > MAX_ID_PART:
            raise InvalidModelIdError(
                f"Model id part is {len(part)} characters long; the Hub allows {MAX_ID_PART}. "
                f"{expected}"
            )
        if part.endswith((".git", ".ipynb")) or part.endswith("."):
            raise InvalidModelIdError(f"{s[:100]!r} is not a valid model id. {expected}")
    return s


def estimate_params(model: ModelInfo | str) -> tuple[int | None, bool]:
    """``(parameters, estimated)``: the record's count, else a guess from the name.

    The guess reads explicit sizes ("gpt-j-6B", "pythia-160m"), family prefixes
    ("distil", "MiniLM") and size words ("base", "large", "xl"). ``(None, False)`` when
    the name says nothing.
    """
    model_id = model.id if isinstance(model, ModelInfo) else model
    name = model_id.lower().split("/")[-1]
    explicit = [
        float(n) * (10**9 if unit == "b" else 10**6) for n, unit in _EXPLICIT_SIZE.findall(name)
    ]
    if isinstance(model, ModelInfo) and model.parameters:
        # Quantised uploads (GGUF, NVFP4) report packed tensor sizes: "27B" in the name
        # of a record counting 0.46B is the truth about the memory/compute it needs.
        if explicit and max(explicit) > QUANTISED_UNDERCOUNT * model.parameters:
            return int(max(explicit)), True
        return int(model.parameters), False
    if explicit:
        return int(max(explicit)), True
    if name in KNOWN_SIZES:
        return KNOWN_SIZES[name], True
    tokens = re.split(r"[-_.]", name)
    for prefix, size in PREFIX_SIZES:
        if any(t.startswith(prefix) for t in tokens):
            return size, True
    for word, size in SIZE_WORDS:
        if word in tokens:
            return size, True
    return None, False


def model_families(model_id: str) -> list[str]:
    """Families a model id belongs to, most specific first (``["xlm-roberta", "roberta"]``)."""
    low = model_id.lower()
    return [name for name, rx in FAMILY_RX.items() if rx.search(low)]


def card_read(m: ModelInfo) -> bool:
    """Whether the record's card was read: a 2022 record without card text has no card (its
    quality 0 is real); a 2026 one only was not read (the snapshot holds metadata only)."""
    return bool(m.card_chars) or m.source == "2022"


def is_multilingual(m: ModelInfo) -> bool:
    langs = {x.lower() for x in m.languages}
    name = m.id.lower()
    return (
        MULTILINGUAL in langs
        or "multilingual" in (t.lower() for t in m.tags)
        or len(langs) >= MULTILINGUAL_MIN_LANGUAGES
        or any(x in name for x in ("multilingual", "xlm-r", "xlsr", "mbert", "labse", "m2m",
                                   "nllb", "mt5", "mbart", "-multi"))
    )


_ID_SPLIT = re.compile(r"[-_./]")


_SHARED_SETS: dict[frozenset[str], frozenset[str]] = {}


def library_words(m: ModelInfo) -> set[str]:
    """What a model can be loaded with, lower-case: its tags, formats and library (a
    request's library matches when one of its aliases is among them)."""
    return {x.lower() for x in (*m.tags, *m.formats, m.library or "") if x}


def _shared(words: Iterable[str]) -> frozenset[str]:
    """One frozenset object (of interned strings) per distinct set of words: the
    features of ~45k models repeat a few thousand tag and language sets, and sharing
    them keeps the serving process small. Thread-safe enough: a race only makes an
    equal duplicate."""
    key = frozenset(sys.intern(w) for w in words)
    return _SHARED_SETS.setdefault(key, key)


@dataclass(frozen=True, slots=True)
class ModelFeatures:
    """Per-model facts the ranking reads on every request, derived once per model (the
    model-choice path scores 2-10k candidates a request; recomputing these from the
    ``ModelInfo`` was most of its CPU time)."""

    params: int | None
    params_estimated: bool
    low_id: str
    id_tokens: frozenset[str]  # lower-case id split on - _ . /
    langs: frozenset[str]
    tags: frozenset[str]
    multilingual: bool
    have_library: frozenset[str]  # tags, formats and library, lower-case
    log_downloads: float
    log_likes: float
    # a fine-tune, quantisation or merge of another author's model (2026 records name
    # their ``base_model``; 2022 records do not, so they never count as one)
    derivative: bool = False
    log_derivatives: float = 0.0  # log(1 + models in the index that name it their base)

    @classmethod
    def of(cls, m: ModelInfo, derivatives: int = 0) -> ModelFeatures:
        """The features of ``m``; ``derivatives``: how many models in the index name it
        as their ``base_model`` (a corpus fact, counted by the caller)."""
        params, estimated = estimate_params(m)
        low = m.id.lower()
        tags = _shared(t.lower() for t in m.tags)
        return cls(
            params=params, params_estimated=estimated, low_id=low,
            id_tokens=_shared(_ID_SPLIT.split(low)),
            langs=_shared(x.lower() for x in m.languages),
            tags=tags,
            multilingual=is_multilingual(m),
            have_library=_shared(library_words(m)),
            log_downloads=math.log1p(max(m.downloads, 0)),
            log_likes=math.log1p(max(m.likes, 0)),
            derivative=is_derivative(m),
            log_derivatives=math.log1p(max(derivatives, 0)),
        )


def _author(model_id: str) -> str:
    return model_id.split("/", 1)[0].lower() if "/" in model_id else ""


def is_derivative(m: ModelInfo) -> bool:
    """Whether ``m`` builds on another author's model (its ``base_model`` is set and
    published by someone else): a community fine-tune, quantisation or merge rather than
    the release people are usually told to use."""
    base = (m.base_model or "").strip()
    return bool(base) and base.lower() != "none" and _author(base) != _author(m.id)


def tier_of(f: ModelFeatures, concrete: list[str], concrete_set: frozenset[str],
          require_all: bool) -> int:
    """:func:`language_tier` on precomputed features; -1 for None (drop). ``concrete`` is
    the non-empty-request's asked languages without ``multilingual``."""
    # Translation needs every language; otherwise the first one named is the ask
    # ("German legal texts ... bert-base-uncased is English" wants German).
    if concrete:
        if require_all:
            if all(c in f.langs or c in f.id_tokens for c in concrete_set):
                return 0
        elif concrete[0] in f.langs or concrete[0] in f.id_tokens:
            return 0
    if f.multilingual:
        if concrete and f.langs and MULTILINGUAL not in f.langs:
            # Multilingual by its name or by a list of languages, and the list leaves
            # the asked one out: the card says which languages it covers (an Indonesian
            # request must not get a Bengali mBERT or a Romance-languages translator).
            return -1
        return 0 if not concrete else 1
    if not f.langs:
        return 0 if concrete == ["en"] else 2
    return -1


def language_tier(m: ModelInfo, wanted: list[str], require_all: bool = False) -> int | None:
    """0 speaks an asked language, 1 multilingual, 2 languages not stated, None: others.

    For English, models that state no language count as tier 0: most untagged Hub
    models of the 2022 snapshot are English. ``require_all`` (translation) needs every
    asked language for tier 0: an English-French request must not get zh-en first.
    """
    wanted = [w.lower() for w in wanted if w]
    if not wanted:
        return 0
    concrete = [w for w in wanted if w != MULTILINGUAL]
    tier = tier_of(ModelFeatures.of(m), concrete, frozenset(concrete), require_all)
    return None if tier < 0 else tier


_VARIANT_TOKENS = re.compile(
    r"^(?:v?\d+(?:\.\d+)*[bmk]?|x{0,2}s|xl|xxl|tiny|mini|small|base|medium|large|huge|"
    r"uncased|cased|q\d\w*|f16|fp16|bf16|int[48]|gguf|onnx|awq|gptq|mlx|\d+bit)$")


def family_key(model: ModelInfo) -> str:
    """Models that are size/format/version variants of one another share a key: the
    owner plus the name without size, version and quantisation tokens
    ("openai/whisper-large-v3" and "openai/whisper-small" -> "openai/whisper")."""
    owner, _, name = model.id.lower().rpartition("/")
    tokens = [t for t in _ID_SPLIT.split(name) if t and not _VARIANT_TOKENS.match(t)]
    return f"{owner}/{'-'.join(tokens) or name}"


def collapse_variants(ranked: list, k: int, per_family: int = MAX_PER_FAMILY) -> list:
    """The first ``k`` of ``ranked`` keeping at most ``per_family`` models of one family
    (five sizes of one checkpoint crowd out the alternatives a user should see); the
    skipped ones fill up only when too few families are left."""
    out, skipped, seen = [], [], {}
    for c in ranked:
        key = family_key(c.model)
        if seen.get(key, 0) < per_family:
            seen[key] = seen.get(key, 0) + 1
            out.append(c)
        else:
            skipped.append(c)
        if len(out) == k:
            return out
    return (out + skipped)[:k]


def fill_last(first: list, second: list, k: int, slots: int, key=lambda x: x) -> list:
    """At most ``k`` items: the first ``k - slots`` of ``first``, then up to ``slots`` of
    ``second`` not among them, then the rest of ``first``; each ``key`` once."""
    keep = first[:k - slots]
    seen = {key(x) for x in keep}
    extra = []
    for x in second:
        if len(extra) < slots and key(x) not in seen:
            seen.add(key(x))
            extra.append(x)
    return (keep + extra + [x for x in first[len(keep):] if key(x) not in seen])[:k]
