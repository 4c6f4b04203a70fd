"""Rendering at the edge: the engine's structured answers -> chat markdown, API markdown,
tables.

Everything here reads the typed records (:class:`~advisor.types.Advice`,
:class:`~advisor.types.Explanation`, :class:`~advisor.types.ModelRecommendation`) and
never parses markdown the advisor wrote: the chat shows ``Advice.sections`` and, in a
collapsible message, the citations rendered by :func:`advisor.compose.sources_list`
(the one citation renderer).

No Gradio here (only pandas), so the renderers are tested without a browser.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from advisor.compose import TABLE_WARNINGS, sources_list, sources_section
from advisor.formatting import card_quality_cell, human_count
from advisor.model_warnings import labels
from advisor.types import Advice, Explanation, ModelRecommendation

INTENT_LABELS = {
    "challenge": "a question about a problem",
    "recommend": "a request for a model",
    "explain": "an output or error to explain",
}
RECOMMEND_COLUMNS = [
    "Model",
    "Task",
    "Downloads",
    "Likes",
    "Licence",
    "Params",
    "Card quality",
    "Missing card sections",
    "Watch out",
]
RECOMMEND_TYPES = ["markdown", "str", "number", "number", "str", "str", "str", "str", "str"]
DEFAULT_WARNING_CHARS = 90  # one table line of labels; the top pick's warnings are shown in full
DEFAULT_FORUM_MENTIONS = 5  # forum threads listed under the top pick
NO_MATCH = "No model matches these filters. Loosen the licence, size or language."


# --- the chat and the API ----------------------------------------------------------------
def answer_body(advice: Advice) -> str:
    """The answer without its sources: the chat's assistant message."""
    return "\n\n".join(s for s in advice.sections if s)


def sources_message(citations: list[Any]) -> dict[str, Any] | None:
    """The chat's collapsible Sources message (``None`` without citations)."""
    if not citations:
        return None
    return {
        "role": "assistant",
        "content": sources_list(citations),
        "metadata": {"title": f"📚 Sources ({len(citations)})"},
    }


def explanation_markdown(expl: Explanation) -> str:
    """An explanation with its numbered Sources (the Explain tab and ``/explain_output``)."""
    return "\n\n".join(s for s in (expl.answer, sources_section(expl.citations)) if s)


def category_markdown(advice: Advice) -> str:
    """The detected challenge category, its confidence and the runners-up."""
    cats = list(advice.categories or [])
    if not cats:
        return "**Detected challenge:** none"
    top = cats[0]
    sub = f" › {top.subcategory}" if top.subcategory else ""
    unsure = " — _unsure, see the alternatives_" if advice.unsure else ""
    intent = INTENT_LABELS.get(getattr(advice, "intent", ""), "")
    lines = [f"**Understood as:** {intent}"] if intent else []
    lines += [
        f"**Detected challenge:** {top.category}{sub}",
        f"**Confidence:** {advice.confidence:.0%}{unsure}",
    ]
    if len(cats) > 1:
        lines.append(
            "Also possible: " + ", ".join(f"{c.category} ({c.score:.0%})" for c in cats[1:3])
        )
    lines.append(
        "<sub>Categories are the SANER 2024 study's challenge taxonomy; the label is "
        "derived by a classifier.</sub>"
    )
    return "\n\n".join(lines)


# --- Find a model ------------------------------------------------------------------------
def _short_warnings(warnings: list[str]) -> str:
    """The first warnings' labels (the most important first, advisor.model_warnings)."""
    if not warnings:
        return ""
    first = labels(warnings, TABLE_WARNINGS)
    if len(first) > DEFAULT_WARNING_CHARS:
        first = first[: DEFAULT_WARNING_CHARS - 1].rstrip() + "…"
    rest = len(warnings) - TABLE_WARNINGS
    more = f" (+{rest} more)" if rest > 0 else ""
    return f"⚠️ {first}{more}"


def _model_link(r: ModelRecommendation) -> str:
    return f"[{r.model_id}]({r.url or f'https://huggingface.co/{r.model_id}'})"


def recommendations_frame(recs: list[ModelRecommendation]) -> pd.DataFrame:
    """The Find tab's table, one row per model (``RECOMMEND_COLUMNS``)."""
    rows = [
        [
            _model_link(r),
            r.pipeline_tag or "",
            r.downloads,
            r.likes,
            r.license or r.license_family or "unknown",
            human_count(r.parameters, "?"),
            card_quality_cell(r.card_quality, r.card_read),
            ", ".join(r.missing_sections),
            _short_warnings(r.warnings),
        ]
        for r in recs
    ]
    return pd.DataFrame(rows, columns=RECOMMEND_COLUMNS)


def find_results(recs: list[ModelRecommendation]) -> tuple[pd.DataFrame, str, str, str]:
    """(ranked table, snippet of the top pick, notes, forum threads about the top pick)."""
    if not recs:
        return pd.DataFrame(columns=RECOMMEND_COLUMNS), "", NO_MATCH, ""
    top = recs[0]
    notes = f"**Top pick:** {_model_link(top)} — copy the snippet below to try it."
    if top.solved_like:
        notes += f" Suggested in the answer to [a similar solved request]({top.solved_like})."
    if top.warnings:
        notes += "\n\n" + "\n".join(f"- ⚠️ {w}" for w in top.warnings)
    mentions = top.thread_mentions[:DEFAULT_FORUM_MENTIONS]
    forum = "\n".join(f"- {m}" for m in mentions) or "_No forum threads._"
    return recommendations_frame(recs), top.snippet, notes, forum


# --- Insights ----------------------------------------------------------------------------
def insights_summary(n_rows: int, counts: dict[str, int], pending: int,
                     last_error: str | None) -> str:
    """One line over the query log, plus a warning while rows wait to be written."""
    summary = (
        f"**{n_rows}** logged queries: {counts['answered']} answered, "
        f"{counts['refused']} refused, {counts['error']} errors; "
        f"👍 {counts['likes']} · 👎 {counts['dislikes']}."
    )
    if pending or last_error:
        summary += f"\n\n⚠️ {last_error or ''} ({pending} pending)"
    return summary
