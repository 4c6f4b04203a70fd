"""Output explainer: pasted model output or error -> what it means and what to do.

Beginners in the study's forum threads often could not read what a model gave back
("Incomprehensible output"): ``LABEL_1`` instead of a class name, logits instead of
probabilities, token ids, sub-word NER pieces, repeated or echoed generations, NaN
losses, shape mismatches, CUDA OOM, the "Some weights ... were not initialized"
warning. :class:`OutputExplainer` runs a list of small, independent detectors over the
pasted text, each returning a :class:`Finding` (meaning, numbered steps, optional worked
details such as the softmax of the pasted logits), and composes one markdown answer with
similar forum threads as citations when a retriever is given.

What each finding says (title, meaning, steps, category, the signatures of error kinds)
is data in ``prompts/explainer.yaml``; this module keeps the recognising and the
computations (number parsing, softmax tables, label maps from cards, decode snippets).
The detectors never raise on odd input (unknown input gets a generic, still useful
explanation). This module does not run any model: decoding token ids or loading a config
is shown as code to run.
"""

from __future__ import annotations

import functools
import logging
import math
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from advisor.config import PROMPTS_DIR, Config
from advisor.datafiles import load_yaml
from advisor.errors import InvalidInputError, KnowledgeBaseError
from advisor.modelfacts import validate_model_id
from advisor.output_numbers import is_int_like, parse_number_lists, softmax
from advisor.taxonomy import CHALLENGE_CATEGORIES
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
EXPLAINER_FILE = PROMPTS_DIR / "explainer.yaml"  # what each finding says (data)

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
    category: str = ""  # the challenge category the data file gives this kind


# --- what the findings say (prompts/explainer.yaml) -----------------------------------
@dataclass(frozen=True)
class FindingText:
    """One kind's prose and signatures, as read from the data file."""

    key: str
    category: str
    title: str
    meaning: dict[str, str]  # variant -> template; "default" always present
    steps: tuple[str, ...]
    query: str
    signatures: tuple[re.Pattern[str], ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)  # kind-specific texts and patterns

    def match(self, text: str, key: str = "signatures") -> re.Match[str] | None:
        """The first match of this kind's ``signatures`` (or another pattern list)."""
        patterns = self.signatures if key == "signatures" else self.extra.get(key, ())
        for rx in patterns:
            m = rx.search(text)
            if m:
                return m
        return None


def _compile(path: Path, key: str, patterns: Any) -> tuple[re.Pattern[str], ...]:
    try:
        return tuple(re.compile(str(p), re.IGNORECASE) for p in patterns or ())
    except re.error as e:
        raise KnowledgeBaseError(f"{path}: a pattern of '{key}' does not compile ({e}); fix it.") from e


@functools.lru_cache(maxsize=4)
def load_finding_texts(path: Path = EXPLAINER_FILE) -> dict[str, FindingText]:
    """Every kind in ``prompts/explainer.yaml``; a malformed entry raises
    :class:`KnowledgeBaseError` naming the file and the kind."""
    import yaml

    try:
        data = load_yaml(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as e:
        raise KnowledgeBaseError(f"Cannot read the explainer's texts at {path} ({e}).") from e
    out: dict[str, FindingText] = {}
    for key, d in data.items():
        missing = [f for f in ("category", "title", "meaning", "steps", "query") if not d.get(f)]
        if missing:
            raise KnowledgeBaseError(f"{path}: '{key}' lacks {', '.join(missing)}; add them.")
        if d["category"] not in CHALLENGE_CATEGORIES:
            raise KnowledgeBaseError(f"{path}: '{key}' has an unknown category {d['category']!r}.")
        meaning = d["meaning"] if isinstance(d["meaning"], dict) else {"default": d["meaning"]}
        if "default" not in meaning:
            raise KnowledgeBaseError(f"{path}: '{key}' meaning variants need a 'default'.")
        extra = {k: v for k, v in d.items()
                 if k not in ("category", "title", "meaning", "steps", "query", "signatures")}
        for k, v in list(extra.items()):
            if k.endswith("signatures"):
                extra[k] = _compile(path, k, v)
        out[key] = FindingText(key, d["category"], d["title"], meaning, tuple(d["steps"]),
                               d["query"], _compile(path, "signatures", d.get("signatures")), extra)
    if "unknown" not in out:
        raise KnowledgeBaseError(f"{path}: the fallback kind 'unknown' is missing.")
    return out


def _text(key: str) -> FindingText:
    return load_finding_texts()[key]


def _fill(template: str, values: Mapping[str, Any]) -> str:
    return string.Template(template).safe_substitute({k: str(v) for k, v in values.items()})


def _finding(key: str, variant: str = "default", *, kind: str | None = None, details: str = "",
             label_map: Mapping[str, str] | None = None, **values: Any) -> Finding:
    """A :class:`Finding` with the prose of ``key`` (the ``variant`` meaning), filled with
    ``values``; ``kind`` defaults to ``key``."""
    t = _text(key)
    return Finding(
        kind or key, _fill(t.title, values), _fill(t.meaning.get(variant, t.meaning["default"]), values),
        list(t.steps), details, _fill(t.query, values), dict(label_map or {}), t.category)


# --- detectors: recognise and compute; the prose comes from the data above -----------------
_LABEL_N = re.compile(r"\bLABEL_(\d{1,4})\b")


def _detect_label_ids(text: str, ctx: _Context) -> Finding | None:
    labels = sorted({int(n) for n in _LABEL_N.findall(text)})
    if not labels:
        return None
    names = [f"LABEL_{n}" for n in labels]
    known = {k: v for k, v in ctx.label_map.items() if k in names} if ctx.label_map else {}
    lines = "; ".join(f"`{k}` = **{v}**" for k, v in sorted(known.items()))
    details = ("```python\nfrom transformers import AutoConfig\n"
               f"cfg = AutoConfig.from_pretrained(\"{ctx.model_id or 'MODEL_ID'}\")\n"
               "print(cfg.id2label)  # {0: 'LABEL_0', ...} means nobody named them\n```")
    return _finding("label_ids", "from_card" if known else "default", details=details,
                    label_map=known, model_id=ctx.model_id, lines=lines)


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
        rows = [r for r in rows if not all(is_int_like(v) for v in r)]
    if not rows:
        return None
    probs_like = all(
        all(0.0 <= v <= 1.0 for v in r) and abs(sum(r) - 1.0) <= PROB_SUM_TOLERANCE for r in rows
    )
    if probs_like and not says_logits:
        best = max(range(len(rows[0])), key=lambda i: rows[0][i])
        return _finding("probabilities", kind="scores", best=best)
    if all(0.0 <= v <= 1.0 for r in rows for v in r) and not says_logits:
        return _finding("independent_scores", kind="scores")
    intro = _text("logits").extra.get("details_intro", "")
    return _finding("logits", details=f"{intro}\n\n{_softmax_table(rows, ctx.label_map)}")


_IDS_CONTEXT = re.compile(r"input_ids|token[_ ]?ids|generate\(|sequences|tensor\(\[\[", re.I)
_SPECIAL_IDS = {101: "[CLS] (BERT)", 102: "[SEP] (BERT)", 0: "[PAD]/<s>", 50256: "<|endoftext|> (GPT-2)",
                1: "</s> or <pad>", 2: "</s>"}


def _detect_token_ids(text: str, ctx: _Context) -> Finding | None:
    rows = [r for r in parse_number_lists(text)
            if len(r) >= MIN_TOKEN_IDS and all(is_int_like(v) and v >= 0 for v in r)]
    if not rows:
        return None
    if not _IDS_CONTEXT.search(text) and max(max(r) for r in rows) < 100:
        return None  # small integers without context: shapes or labels, not tokens
    ids = [int(v) for v in rows[0]]
    special = sorted({f"{i} = {_SPECIAL_IDS[i]}" for i in ids if i in _SPECIAL_IDS})
    mid = ctx.model_id or "MODEL_ID"
    details = ("```python\nfrom transformers import AutoTokenizer\n"
               f"tok = AutoTokenizer.from_pretrained(\"{mid}\")\n"
               f"print(tok.decode({ids[:20]}, skip_special_tokens=True))\n"
               "# many sequences: tok.batch_decode(output_ids, skip_special_tokens=True)\n```")
    note = _fill(_text("token_ids").extra.get("special", ""), {"ids": ", ".join(special)})
    return _finding("token_ids", details=details, special=note if special else "")


_NER = re.compile(r"\b[BIES]-(PER|ORG|LOC|MISC|[A-Z]{2,10})\b|['\"]entity['\"]\s*:", re.I)
_SUBWORD = re.compile(r"['\"]word['\"]\s*:\s*['\"](##|▁|Ġ)|##\w")


def _detect_ner(text: str, ctx: _Context) -> Finding | None:
    if not _NER.search(text):
        return None
    pieces = _text("ner_subwords").extra.get("pieces", "") if _SUBWORD.search(text) else ""
    return _finding("ner_subwords", pieces=pieces)


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
    return _finding("generation_repetition", phrase=phrase[:60]) if phrase else None


def _detect_truncated(text: str, ctx: _Context) -> Finding | None:
    cut = [t for t in _generated_texts(text)
           if t.strip() and not re.search(r"[.!?\"')\]}]\s*$", t.strip())]
    return _finding("generation_truncated") if cut else None


def _detect_echo(text: str, ctx: _Context) -> Finding | None:
    return _finding("generation_echo") if _generated_texts(text) else None


def _detect_special_tokens(text: str, ctx: _Context) -> Finding | None:
    found = sorted(set(_SPECIAL_TOKENS.findall(text)))
    if not found:
        return None
    return _finding("special_tokens", tokens=", ".join(f"`{t}`" for t in found))


def _by_signature(key: str) -> Detector:
    """A detector that fires on ``key``'s signatures and says its default text."""
    def detect_one(text: str, ctx: _Context) -> Finding | None:
        return _finding(key) if _text(key).match(text) else None
    detect_one.__name__ = f"_detect_{key}"
    return detect_one


def _detect_shapes(text: str, ctx: _Context) -> Finding | None:
    if _text("sequence_too_long").match(text):
        return _finding("sequence_too_long")
    t = _text("shape_mismatch")
    if not t.match(text):
        return None
    return _finding("shape_mismatch", "head" if t.match(text, "head_signatures") else "default")


def _detect_weights_warnings(text: str, ctx: _Context) -> list[Finding]:
    out = []
    if _text("new_head_warning").match(text):
        layers = re.findall(r"\['([\w.]+)'", text)[:4]
        out.append(_finding("new_head_warning", layers=f" ({', '.join(layers)})" if layers else ""))
    if _text("unused_weights_warning").match(text):
        out.append(_finding("unused_weights_warning"))
    return out


def _detect_padding(text: str, ctx: _Context) -> Finding | None:
    m = _text("tokenizer_padding").match(text)
    return _finding("tokenizer_padding", matched=m.group(0)) if m else None


def _detect_errors(text: str, ctx: _Context) -> Finding | None:
    if _text("model_not_found").match(text):
        return _finding("model_not_found")
    m = _text("pipeline_error").match(text)
    if not m:
        return None
    err = m.group(1)
    detail = (m.group(2) or "").strip(": ")
    if err == "KeyError" and re.search(r"KeyError: '\w+'", text) and re.search(
            r"CONFIG_MAPPING|model_type|configuration_auto", text):
        variant = "unknown_model_type"
    elif "task" in detail.lower() or "Unknown task" in text:
        variant = "unknown_task"
    else:
        variant = "default"
    return _finding("pipeline_error", variant, error=err,
                    detail=f" ({detail[:120]})" if detail else "", detail_words=detail[:80])


@dataclass
class _Context:
    model_id: str | None
    label_map: dict[str, str]


Detector = Callable[[str, _Context], "Finding | list[Finding] | None"]
# Order = order of the sections in the answer: errors first, then output reading.
DETECTORS: tuple[Detector, ...] = (
    _by_signature("cuda_oom"), _by_signature("nan_loss"), _detect_shapes,
    _by_signature("device_mismatch"), _detect_errors, _detect_weights_warnings, _detect_padding,
    _detect_label_ids, _detect_logits, _detect_token_ids, _detect_ner, _detect_repetition,
    _detect_truncated, _detect_echo, _detect_special_tokens,
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
            findings = [_finding("unknown")]
        if model_id and model_id not in self.models and model_id not in self.models_2022:
            notes.append(f"{model_id} is not in the index; label names could not be looked up.")
        citations = self._threads(" ".join(f.query for f in findings[:2]))
        if model_id:
            citations.append(Citation(kind="model", id=f"model:{model_id}",
                                      url=MODEL_URL.format(id=model_id), title=model_id))
        answer = self._compose(findings, citations)
        cats: dict[str, float] = {}
        for i, f in enumerate(findings):
            cats.setdefault(f.category, round(max(0.3, 0.9 - 0.2 * i), 2))
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
