"""The SANER 2024 study's own trend tables, read from the corpus for the Insights tab.

Reads, at run time, from ``<corpus_dir>/replication/``:

- ``forum_model_mentions_by_month.csv``: forum topics mentioning each model family per
  month (rows = families, columns = months);
- ``hub_model_types_by_month_created.csv``: models created per month per model type
  (rows = types, columns = months, then ``sum``, ``cumulative sum``, ``Cumulative
  ratio``; a blank row and a ``SUM`` row at the end);
- ``hub_card_ratio_by_month_created.csv``: models created per month, how many have a
  card, and the ratio;
- ``codebook.xlsx`` sheet ``Overview``: codes per challenge / benefit category.

Each reader returns a tidy (long) pandas DataFrame ready for ``gr.LinePlot`` /
``gr.BarPlot``. Nothing here is copied into the repository, and nothing is cached: the
app reads the tables when the tab is built. Readers raise
:class:`~advisor.errors.CorpusNotFoundError` when a table is missing.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from advisor.corpus import require_corpus_path

log = logging.getLogger(__name__)

DEFAULT_TOP_SERIES = 8  # more lines than this make a line plot unreadable
REPLICATION = "replication"
FORUM_MENTIONS = "forum_model_mentions_by_month.csv"
HUB_TYPES = "hub_model_types_by_month_created.csv"
CARD_RATIO = "hub_card_ratio_by_month_created.csv"
CODEBOOK = "codebook.xlsx"
_HUB_TYPES_TRAILER = ("sum", "cumulative sum", "cumulative ratio")


def _table(corpus_dir: Path, name: str) -> Path:
    return require_corpus_path(Path(corpus_dir) / REPLICATION / name, "the trend plots")


def corpus_available(corpus_dir: Path) -> bool:
    return (Path(corpus_dir) / REPLICATION / FORUM_MENTIONS).exists()


def _wide_to_long(wide: pd.DataFrame, name: str, value: str) -> pd.DataFrame:
    long = wide.reset_index(names=name).melt(id_vars=name, var_name="month", value_name=value)
    long["month"] = pd.to_datetime(long["month"], errors="coerce")
    long[value] = pd.to_numeric(long[value], errors="coerce").fillna(0).astype(int)
    return long.dropna(subset=["month"]).sort_values(["month", name]).reset_index(drop=True)


def _top(long: pd.DataFrame, name: str, value: str, top: int | None) -> pd.DataFrame:
    if not top:
        return long
    keep = long.groupby(name)[value].sum().nlargest(top).index
    return long[long[name].isin(keep)].reset_index(drop=True)


def forum_model_mentions(corpus_dir: Path, top: int | None = DEFAULT_TOP_SERIES) -> pd.DataFrame:
    """Columns ``month`` (datetime), ``model`` (family), ``topics``; the ``top``
    most-mentioned families only (``None`` for all)."""
    wide = pd.read_csv(_table(corpus_dir, FORUM_MENTIONS), index_col=0)
    wide = wide[wide.index.notna()]
    return _top(_wide_to_long(wide, "model", "topics"), "model", "topics", top)


def hub_model_types(corpus_dir: Path, top: int | None = DEFAULT_TOP_SERIES) -> pd.DataFrame:
    """Columns ``month``, ``model_type``, ``models`` (created that month); the ``top``
    types by total (``None`` for all). The table's sum/ratio trailer is dropped."""
    wide = pd.read_csv(_table(corpus_dir, HUB_TYPES), index_col=0)
    wide = wide[wide.index.notna() & (wide.index.astype(str).str.upper() != "SUM")]
    wide = wide[[c for c in wide.columns if str(c).strip().lower() not in _HUB_TYPES_TRAILER]]
    return _top(_wide_to_long(wide, "model_type", "models"), "model_type", "models", top)


def card_ratio(corpus_dir: Path) -> pd.DataFrame:
    """Columns ``month``, ``has_card``, ``models``, ``card_ratio`` (0..1)."""
    df = pd.read_csv(_table(corpus_dir, CARD_RATIO), index_col=0)
    out = pd.DataFrame(
        {
            "month": pd.to_datetime(df["month_year"], errors="coerce"),
            "has_card": pd.to_numeric(df["has_card"], errors="coerce"),
            "models": pd.to_numeric(df["count"], errors="coerce"),
            "card_ratio": pd.to_numeric(df["card_ratio"], errors="coerce"),
        }
    )
    return out.dropna().sort_values("month").reset_index(drop=True)


def category_counts(corpus_dir: Path) -> pd.DataFrame:
    """Columns ``kind`` (challenge | benefit), ``category``, ``codes``, from the
    codebook's Overview sheet (its total row is dropped)."""
    sheet = pd.read_excel(_table(corpus_dir, CODEBOOK), sheet_name="Overview", header=None)
    rows = []
    kind = "challenge"
    for name, count in sheet.iloc[:, :2].itertuples(index=False):
        if isinstance(name, str) and name.strip().lower() == "category":
            kind = "benefit"  # the second block's header row
            continue
        if not isinstance(name, str) or not name.strip():
            continue  # blank rows and the unnamed total
        codes = pd.to_numeric(count, errors="coerce")
        if pd.notna(codes):
            rows.append({"kind": kind, "category": name.strip(), "codes": int(codes)})
    return pd.DataFrame(rows, columns=["kind", "category", "codes"])
