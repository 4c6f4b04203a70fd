"""The request boundary: what a user typed -> one checked :class:`~advisor.types.Request`.

Every surface (the chat, the widget, the API and MCP tools, the eval command) calls
:func:`make_request` once; the engine answers the Request without checking it again.
It, in order:

1. cleans the text (:func:`advisor.validate.clean_question`; a pasted output or error,
   recognised by its phrasing, gets the longer limit of
   :func:`~advisor.validate.clean_output_text`), so bad input gets its clear message;
2. checks the filters (:func:`advisor.validate.parse_filters`);
3. counts the call against the session's rate limit (when given a limiter);
4. normalises the chat history (:func:`normalise_history`, the one normaliser) and
   resolves a follow-up such as "and a smaller one?" against the last model request
   in it (:func:`resolve_follow_up`).

The phrasing cues here (:func:`detect_intent`) are the rules the engine starts from; the
learned intent model (:mod:`advisor.intent`) refines them in the engine. This module
holds no index, model or state.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from advisor.config import Config
from advisor.tasks import detect_task
from advisor.types import Request
from advisor.validate import RateLimiter, clean_output_text, clean_question, parse_filters

FOLLOW_UP_MAX_CHARS = 120  # longer input is a question of its own, not a follow-up
FOLLOW_UP_MAX_WORDS = 6  # a recommend-phrased follow-up longer than this stands alone

# --- intent cues ----------------------------------------------------------------------
_RECOMMEND = re.compile(
    r"\b(which|what|recommend\w*|suggest\w*|best|good|any|looking for|need|want|find|"
    r"pick|choose|is there)\b[^.?!]{0,80}\bmodels?\b|\bmodels? (for|to|that)\b|"
    r"\b(recommend|suggest)\b",
    re.I,
)
# Seeking phrasings that name no "model" (asking for "something that" does a job, "X vs
# Y", "which one should I"): they count as model choice only when the request also
# names a task. These rules are the fallback for an index without the learned intent
# model (advisor.intent), and decide which earlier turn a follow-up refers to.
_SEEKING = re.compile(
    r"\b(i (want|need) to|(need|want|looking for) (something|a way|anything)|"
    r"something (that|to|where|which|for)|is there (something|a way|anything)|"
    r"can (a|any|some) model|which one (should|would|do) (i|we)|vs\.?|versus|should i "
    r"(use|fine-?tune|pick|choose|start with)|how (do|can|could) i (detect|transcribe|"
    r"translate|summari[sz]e|extract|recogni[sz]e|caption))\b|"
    r"\bmodels? (with|which)\b",
    re.I,
)
_RECOMMEND_NEG = re.compile(
    r"\b(model card|model repo\w*|difference between|programmatically|list_models|"
    r"error|traceback|exception|fails?|failed|crash\w*|how (do|can) i (load|fine-?tune|"
    r"train|deploy|save|use)|out of memory|doesn'?t work|not working)\b",
    re.I,
)
_PASTED = re.compile(
    r"Traceback \(most recent call last\)|^\s*\w*(Error|Exception): |\bLABEL_\d+\b|"
    r"\[\{'label'|\{\"label\"|\btensor\(\[|\blogits\b|\bnan\b|\bscore'?\s*[:=]\s*0\.\d+",
    re.M,
)
_FOLLOW_UP = re.compile(
    r"^\s*(and|what about|how about|or|also|instead|any|another|a|same|but)\b.{0,60}$|"
    r"\b(smaller|bigger|larger|lighter|faster|cheaper|another one|other one|instead)\b",
    re.I,
)
_SMALLER = re.compile(r"\b(smaller|lighter|faster|cheaper|tinier)\b", re.I)


def looks_pasted(text: str) -> bool:
    """True when ``text`` contains a pasted output or error (a traceback, label ids, ...)."""
    return bool(_PASTED.search(text))


def detect_intent(question: str) -> str:
    """``"explain"`` (pasted output/error), ``"recommend"`` (model choice) or ``"challenge"``."""
    if looks_pasted(question) and (len(question) > 60 or "\n" in question):
        return "explain"
    if _RECOMMEND_NEG.search(question):
        return "challenge"
    if _RECOMMEND.search(question):
        return "recommend"
    if _SEEKING.search(question) and detect_task(question)[0] is not None:
        return "recommend"
    return "challenge"


def _text_of(content: Any) -> str | None:
    """A message's text: a string, or the text parts of Gradio's structured content."""
    if isinstance(content, list):
        content = " ".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)
    return content if isinstance(content, str) and content.strip() else None


def normalise_history(history: Any) -> list[dict[str, str]]:
    """Chat history -> ``[{"role": "user"|"assistant", "content": str}]``.

    Accepts Gradio ``messages`` (dicts or ``ChatMessage`` dataclasses, structured content
    flattened to its text) and ``(user, assistant)`` pairs. Drops empty messages, other
    roles and the chat's collapsible Sources messages (they carry a ``metadata.title``).
    """
    out: list[dict[str, str]] = []
    for item in history or []:
        if dataclasses.is_dataclass(item) and not isinstance(item, type):
            item = dataclasses.asdict(item)
        if isinstance(item, dict):
            if (item.get("metadata") or {}).get("title"):
                continue
            role, text = item.get("role"), _text_of(item.get("content"))
            if role in ("user", "assistant") and text:
                out.append({"role": role, "content": text})
        elif isinstance(item, (list, tuple)) and len(item) == 2:
            for role, content in zip(("user", "assistant"), item, strict=True):
                text = _text_of(content)
                if text:
                    out.append({"role": role, "content": text})
    return out


def resolve_follow_up(question: str, history: Any) -> tuple[str, str | None]:
    """Merge a short follow-up with the last model request in ``history``.

    Returns (request text, note) where note says what was reused, or (question, None).
    "and a smaller one?" -> "<previous request> small" (the request parser maps "small"
    to a size budget).
    """
    if len(question) > FOLLOW_UP_MAX_CHARS or not _FOLLOW_UP.search(question):
        return question, None
    if detect_intent(question) == "recommend" and len(question.split()) > FOLLOW_UP_MAX_WORDS:
        return question, None  # a full request of its own
    turns = [m["content"] for m in normalise_history(history) if m["role"] == "user"]
    for prev in reversed(turns):
        if detect_intent(prev) == "recommend":
            extra = question
            if _SMALLER.search(question):
                extra += " small"
            merged = f"{prev.strip()} {extra.strip()}"
            return merged, f"Follow-up: reusing your earlier request ({prev.strip()[:80]!r})."
    return question, None


def make_request(
    text: Any,
    cfg: Config,
    *,
    kind: str = "ask",
    history: Any = None,
    filters: dict[str, Any] | None = None,
    session: str | None = None,
    limiter: RateLimiter | None = None,
    model_id: str | None = None,
) -> Request:
    """Check one input and build its :class:`~advisor.types.Request` (see the module doc).

    Args:
        text: what the user typed (a question, a task, or a pasted output for ``explain``).
        cfg: limits (``max_question_chars``, ``max_output_chars``) and secrets to redact.
        kind: ``ask`` (chat, /ask), ``recommend`` (Find a model) or ``explain``.
        history: earlier chat turns, in any form :func:`normalise_history` accepts.
        filters: the model filters; checked, unknown scalar keys kept.
        session: the session to rate-limit (with ``limiter``) and log.
        limiter: counts this call; ``None`` = no rate limit here.
        model_id: the model that produced a pasted output (checked by the explainer).

    Raises:
        InvalidInputError: empty, over-long or non-text input, or a bad filter.
        RateLimitError: the session asked too often.
    """
    pasted = kind == "explain" or (kind == "ask" and looks_pasted(str(text or "")))
    if kind == "explain" or (pasted and len(str(text or "")) > cfg.max_question_chars):
        clean = clean_output_text(text, cfg)
    else:
        clean = clean_question(text, cfg)
    checked = parse_filters(filters).as_dict()
    if limiter is not None:
        limiter.check(session or "anonymous")
    turns = normalise_history(history)
    query, note = resolve_follow_up(clean, turns) if kind == "ask" else (clean, None)
    model_id = (model_id or "").strip() or checked.get("model_id") or None
    return Request(text=clean, kind=kind, query=query, history=turns, filters=checked,
                   session=session, model_id=model_id, follow_up=note)
