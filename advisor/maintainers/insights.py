"""Maintainer views over the query log: what people ask, what fails, what is missing.

Pure functions from the log's DataFrame (:meth:`advisor.maintainers.querylog.QueryLog.dataframe`)
to small pandas DataFrames for the Insights tab and its CSV export:

- :func:`category_counts`: questions per challenge category per day/week/month;
- :func:`recurring_questions`: clusters of near-identical questions (token Jaccard
  similarity by default; cosine similarity when an embedder is given);
- :func:`disliked_answers`: answers users disliked;
- :func:`coverage_gaps`: low-confidence / unsure / disliked questions grouped by
  category, each with a suggested fix (write or extend a guidance page, improve a
  model card, teach the explainer a pattern).

Nothing here reads the database or the corpus; the study's trend tables are in
:mod:`advisor.maintainers.trends`.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from advisor.taxonomy import slug

log = logging.getLogger(__name__)

DEFAULT_FREQ = "W"  # weekly: a Space gets too few questions a day for a stable chart
DEFAULT_JACCARD = 0.5  # half the content words shared: rewordings of one question
DEFAULT_COSINE = 0.8  # MiniLM cosine above which two questions ask the same thing
DEFAULT_MIN_CLUSTER = 2  # a question asked twice is recurring
DEFAULT_LOW_CONFIDENCE = 0.35  # below this the classifier's top category is a guess
DEFAULT_EXAMPLES = 3  # example questions shown per cluster / gap
UNCLASSIFIED = "(no category)"
# Guidance pages live beside the repo's prompts (see advisor.guidance).
DEFAULT_GUIDANCE_DIR = Path(__file__).resolve().parents[1] / "prompts" / "guidance"

_TOKEN = re.compile(r"[a-z0-9_]+")
_STOP = frozenset(
    "a an and are as at be but by can do does for from how i if in is it its me my of on "
    "or so that the this to what when which why with you your should would could there "
    "any some get use using want need".split()
)

GAP_COLUMNS = ["category", "questions", "dislikes", "mean_confidence", "examples", "suggested_fix"]


def tokens(text: str) -> frozenset[str]:
    """Lower-cased content words (stop words removed) of a question."""
    return frozenset(t for t in _TOKEN.findall(str(text).lower()) if t not in _STOP)


def _answered(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["status"] == "answered"] if "status" in df else df


def category_counts(
    df: pd.DataFrame, freq: str = DEFAULT_FREQ, kinds: tuple[str, ...] = ("ask", "explain")
) -> pd.DataFrame:
    """Questions per category per period: columns ``period`` (period start, datetime),
    ``category``, ``questions``. Answered rows of the given ``kinds`` only (model
    searches carry no challenge category); no category -> UNCLASSIFIED."""
    cols = ["period", "category", "questions"]
    d = _answered(df)
    if "kind" in d:
        d = d[d["kind"].isin(kinds)]
    if d.empty:
        return pd.DataFrame(columns=cols)
    ts = pd.to_datetime(d["ts"], utc=True, errors="coerce").dt.tz_localize(None)
    out = (
        pd.DataFrame(
            {
                "period": ts.dt.to_period(freq).dt.start_time,
                "category": d["category"].fillna(UNCLASSIFIED).replace("", UNCLASSIFIED),
            }
        )
        .groupby(["period", "category"])
        .size()
        .reset_index(name="questions")
    )
    return out.sort_values(["period", "questions"], ascending=[True, False]).reset_index(drop=True)[
        cols
    ]


def _cluster_ids(questions: list[str], threshold: float, embedder=None) -> list[int]:
    """Greedy single pass: each question joins the first cluster whose seed is similar
    enough, else starts a new one. O(n x clusters); fine for a Space's log."""
    if embedder is not None:
        vecs = np.asarray(embedder.encode(questions), dtype=np.float32)  # (n, dim) normalised
        seeds: list[int] = []
        ids = []
        for i in range(len(questions)):
            if seeds:
                sims = vecs[seeds] @ vecs[i]
                j = int(np.argmax(sims))
                if sims[j] >= threshold:
                    ids.append(j)
                    continue
            seeds.append(i)
            ids.append(len(seeds) - 1)
        return ids
    seed_tokens: list[frozenset[str]] = []
    ids = []
    for q in questions:
        t = tokens(q)
        best, best_sim = -1, 0.0
        for j, s in enumerate(seed_tokens):
            union = len(t | s)
            sim = len(t & s) / union if union else 1.0
            if sim > best_sim:
                best, best_sim = j, sim
        if best >= 0 and best_sim >= threshold:
            ids.append(best)
        else:
            seed_tokens.append(t)
            ids.append(len(seed_tokens) - 1)
    return ids


def recurring_questions(
    df: pd.DataFrame,
    threshold: float | None = None,
    min_count: int = DEFAULT_MIN_CLUSTER,
    embedder=None,
) -> pd.DataFrame:
    """Clusters of similar questions asked at least ``min_count`` times, largest first.

    Columns: ``question`` (the most common wording), ``count``, ``category`` (most
    common), ``dislikes``, ``last_asked``, ``examples`` (other wordings, " | "-joined).
    ``threshold`` defaults to DEFAULT_COSINE with an embedder, else DEFAULT_JACCARD.
    """
    cols = ["question", "count", "category", "dislikes", "last_asked", "examples"]
    d = df[df["question"].fillna("").str.strip() != ""]
    if d.empty:
        return pd.DataFrame(columns=cols)
    d = d.sort_values("ts")
    if threshold is None:
        threshold = DEFAULT_COSINE if embedder is not None else DEFAULT_JACCARD
    ids = _cluster_ids(d["question"].tolist(), threshold, embedder)
    d = d.assign(_cluster=ids)
    rows = []
    for _, g in d.groupby("_cluster"):
        if len(g) < min_count:
            continue
        wordings = Counter(g["question"].str.strip())
        top = wordings.most_common(1)[0][0]
        cats = g["category"].dropna()
        cats = cats[cats != ""]
        rows.append(
            {
                "question": top,
                "count": len(g),
                "category": cats.mode().iloc[0] if not cats.empty else UNCLASSIFIED,
                "dislikes": int((g["feedback"] == "dislike").sum()),
                "last_asked": g["ts"].max(),
                "examples": " | ".join(w for w, _ in wordings.most_common() if w != top)[:500],
            }
        )
    out = pd.DataFrame(rows, columns=cols)
    return out.sort_values(["count", "last_asked"], ascending=False).reset_index(drop=True)


def disliked_answers(df: pd.DataFrame) -> pd.DataFrame:
    """Rows users disliked, newest first: ``ts``, ``question``, ``category``,
    ``confidence``, ``models`` (comma-joined), ``kind``."""
    cols = ["ts", "question", "category", "confidence", "models", "kind"]
    d = df[df["feedback"] == "dislike"]
    if d.empty:
        return pd.DataFrame(columns=cols)
    d = d.assign(
        models=d["models"].map(_join_models),
        confidence=pd.to_numeric(d["confidence"], errors="coerce").round(2),
    )
    return d.sort_values("ts", ascending=False)[cols].reset_index(drop=True)


def _join_models(models) -> str:
    if isinstance(models, str):
        return models
    return ", ".join(models or [])


def _suggest(category: str, group: pd.DataFrame, guidance_dir: Path | None) -> str:
    """One actionable fix for a group of poorly answered questions."""
    intents = Counter(group["intent"].fillna("challenge"))
    intent = intents.most_common(1)[0][0]
    if intent == "recommend":
        disliked = group[group["feedback"] == "dislike"]
        models = Counter(m for ms in disliked["models"] for m in (ms or []))
        if models:
            model = models.most_common(1)[0][0]
            return (
                f"Improve the model card of {model} (recommended in {models[model]} "
                "disliked answer(s)): add intended uses, a how-to-use snippet and the "
                "label map, or index better-documented models for this task."
            )
        return (
            "Index more models for this task (e.g. `python -m builder build --source hub "
            "--hub-filter <task>`), or add the task wording to the recommender's vocabulary."
        )
    if intent == "explain":
        return (
            "Teach the output explainer this pattern: add the error/output text and its "
            "meaning to the guidance page it belongs to."
        )
    if category == UNCLASSIFIED:
        words = Counter(t for q in group["question"] for t in tokens(q)).most_common(4)
        return (
            "No category fits these questions: write a new guidance page covering "
            f"'{' '.join(w for w, _ in words)}', or extend the closest category's page."
        )
    page = f"prompts/guidance/{slug(category)}.md"
    if guidance_dir is not None and not (Path(guidance_dir) / f"{slug(category)}.md").exists():
        return f"Missing guidance page: write {page} (summary, causes, steps, docs)."
    return f"Extend {page}: add these questions to typical_questions and a step that answers them."


def coverage_gaps(
    df: pd.DataFrame,
    low_confidence: float = DEFAULT_LOW_CONFIDENCE,
    guidance_dir: Path | None = DEFAULT_GUIDANCE_DIR,
    examples: int = DEFAULT_EXAMPLES,
) -> pd.DataFrame:
    """Questions the advisor answered badly, grouped by category, most frequent first.

    A question counts when it was answered with confidence below ``low_confidence``,
    flagged unsure, or disliked. Columns: GAP_COLUMNS; ``suggested_fix`` names the page
    or card to write or improve. ``guidance_dir=None`` skips the missing-page check.
    """
    if df.empty:
        return pd.DataFrame(columns=GAP_COLUMNS)
    d = _answered(df)
    conf = pd.to_numeric(d["confidence"], errors="coerce")
    weak = d[
        (conf < low_confidence)
        | d["unsure"].fillna(False).astype(bool)
        | (d["feedback"] == "dislike")
    ]
    if weak.empty:
        return pd.DataFrame(columns=GAP_COLUMNS)
    weak = weak.assign(
        category=weak["category"].fillna(UNCLASSIFIED).replace("", UNCLASSIFIED),
        confidence=pd.to_numeric(weak["confidence"], errors="coerce"),
    )
    rows = []
    for category, g in weak.groupby("category"):
        uniq = list(dict.fromkeys(g["question"].str.strip()))
        rows.append(
            {
                "category": category,
                "questions": len(g),
                "dislikes": int((g["feedback"] == "dislike").sum()),
                "mean_confidence": round(float(g["confidence"].mean()), 2)
                if g["confidence"].notna().any()
                else None,
                "examples": " | ".join(uniq[:examples]),
                "suggested_fix": _suggest(str(category), g, guidance_dir),
            }
        )
    out = pd.DataFrame(rows, columns=GAP_COLUMNS)
    return out.sort_values(["questions", "dislikes"], ascending=False).reset_index(drop=True)


def status_counts(df: pd.DataFrame) -> dict[str, int]:
    """``{"answered": n, "refused": n, "error": n, "likes": n, "dislikes": n}``."""
    out = {s: int((df["status"] == s).sum()) for s in ("answered", "refused", "error")}
    out["likes"] = int((df["feedback"] == "like").sum())
    out["dislikes"] = int((df["feedback"] == "dislike").sum())
    return out
