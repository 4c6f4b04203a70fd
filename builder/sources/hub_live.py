"""Read models from the live Hugging Face Hub (``python -m builder build --source hub``).

Uses huggingface_hub 2.x: ``HfApi.list_models(filter=[...], sort=..., limit=...,
expand=[...])`` (2.x dropped the ``task=``/``language=``/``library=`` arguments: tasks,
``language:xx``, libraries and ``license:x`` all go in ``filter``) for metadata, and
``ModelCard.load`` on the README downloaded through the same ``HfApi`` (so a custom
``endpoint`` is honoured) for card text. Both go through the same card parsing
(:mod:`builder.cards`), metadata (:mod:`builder.sources.metadata`) and document shaping
(:mod:`builder.documents`) as the 2022 snapshot, giving ``(ModelInfo(source="hub"),
Document(kind="model"))``.

Network failures of the listing raise :class:`HubAccessError` with what to do; a missing
or unreadable card only costs that model its card (counted as ``no_card`` /
``card_error``). The token is passed to huggingface_hub and never logged or put in a
message. This module does not cache: cards are downloaded into a temporary directory that
is removed afterwards.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from advisor.errors import HubAccessError
from advisor.types import Document, ModelInfo
from builder.cards import card_facts, parse_front_matter
from builder.documents import model_document
from builder.report import SourceReport
from builder.sources.metadata import (
    base_model_from,
    formats_from_files,
    languages_from,
    license_family,
    license_from,
)

if TYPE_CHECKING:
    from huggingface_hub import HfApi

log = logging.getLogger(__name__)

# What list_models must return for ModelInfo (ExpandModelProperty_T in huggingface_hub 2.4).
DEFAULT_EXPAND: tuple[str, ...] = (
    "pipeline_tag", "library_name", "tags", "downloads", "likes", "lastModified",
    "gated", "safetensors", "siblings", "cardData", "config",
)
README = "README.md"


def _scrub(message: str, token: str | None) -> str:
    return message.replace(token, "***") if token else message


def _access_error(e: Exception, endpoint: str, token: str | None) -> HubAccessError:
    from huggingface_hub.errors import OfflineModeIsEnabled

    if isinstance(e, OfflineModeIsEnabled):
        return HubAccessError(
            "HF_HUB_OFFLINE is set, so the live Hub cannot be read. Unset HF_HUB_OFFLINE "
            "to use --source hub, or build from the corpus snapshot (--source snapshot)."
        )
    status = getattr(getattr(e, "response", None), "status_code", None)
    hint = (
        "The Hub refused the token: check HF_TOKEN." if status in (401, 403)
        else "Check your network connection and HF_ENDPOINT, or build from the corpus "
        "snapshot with --source snapshot."
    )
    detail = _scrub(f"{type(e).__name__}: {e}", token)[:300]
    return HubAccessError(f"Could not list models from {endpoint} ({detail}). {hint}")


def _card_dict(card_data: Any) -> dict[str, Any]:
    if card_data is None:
        return {}
    if isinstance(card_data, dict):
        return card_data
    to_dict = getattr(card_data, "to_dict", None)
    return to_dict() if callable(to_dict) else {}


def _parameters(m: Any) -> int | None:
    st = getattr(m, "safetensors", None)
    total = getattr(st, "total", None) if st is not None else None
    if total is None and isinstance(st, dict):
        total = st.get("total")
    return int(total) if isinstance(total, int | float) else None


def model_from_hub(m: Any, card_md: str | None, report: SourceReport) -> tuple[ModelInfo, Document]:
    """A huggingface_hub ``ModelInfo`` (+ README text) -> our (ModelInfo, Document)."""
    fm_data: dict[str, Any] = {}
    if card_md:
        fm = parse_front_matter(card_md)
        if fm.broken:
            report.reasons["broken_front_matter"] += 1
        fm_data = fm.data
    front = {**_card_dict(getattr(m, "card_data", None)), **fm_data}
    tags = [t for t in getattr(m, "tags", None) or [] if isinstance(t, str)]
    lic = license_from(tags, front)
    gated = getattr(m, "gated", None)
    last = getattr(m, "last_modified", None)
    info = ModelInfo(
        id=m.id,
        source="hub",
        pipeline_tag=getattr(m, "pipeline_tag", None),
        library=getattr(m, "library_name", None) or front.get("library_name"),
        languages=languages_from(tags, front),
        license=lic,
        license_family=license_family(lic),
        downloads=int(getattr(m, "downloads", 0) or 0),
        likes=int(getattr(m, "likes", 0) or 0),
        parameters=_parameters(m),
        formats=formats_from_files([s.rfilename for s in getattr(m, "siblings", None) or []]),
        gated=bool(gated) and gated is not False,
        base_model=base_model_from(front.get("base_model")),
        tags=tags,
        last_modified=last.isoformat() if hasattr(last, "isoformat") else last,
    )
    config = getattr(m, "config", None)
    card_facts(info, card_md, front, config if isinstance(config, dict) else None)
    return info, model_document(info, card_md, kind="model")


def _load_card(api: HfApi, repo_id: str, token: str | None, cache_dir: str,
               report: SourceReport) -> str | None:
    from huggingface_hub import ModelCard
    from huggingface_hub.errors import EntryNotFoundError, GatedRepoError, RepositoryNotFoundError

    try:
        path = api.hf_hub_download(repo_id, README, token=token, cache_dir=cache_dir)
        return ModelCard.load(path, ignore_metadata_errors=True).content
    except (EntryNotFoundError, RepositoryNotFoundError, GatedRepoError):
        report.reasons["no_card"] += 1
    except Exception as e:  # noqa: BLE001 - one card must not stop the listing
        report.reasons["card_error"] += 1
        log.warning("card of %s not loaded: %s", repo_id, _scrub(f"{type(e).__name__}: {e}", token)[:200])
    return None


def read_hub(
    api: HfApi | None,
    report: SourceReport,
    *,
    filters: list[str],
    sort: str = "downloads",
    limit: int = 200,
    token: str | None = None,
    with_cards: bool = True,
) -> Iterator[tuple[ModelInfo, Document]]:
    """Yield (ModelInfo, Document) for up to ``limit`` models matching all ``filters``.

    Args:
        api: an ``HfApi`` (its ``endpoint`` is used for listing and cards); ``None``
            makes one with ``token``.
        filters: Hub filter tags, e.g. ``["text-classification", "language:en"]``.
        sort: ``downloads`` | ``likes`` | ``trending_score`` | ``last_modified`` | ``created_at``.
        with_cards: also download each README (one request per model).
    """
    from huggingface_hub import HfApi

    api = api or HfApi(token=token)
    endpoint = getattr(api, "endpoint", "the Hub")
    report.sha256 = ""  # live data has no file digest; the manifest records the filters
    try:
        listing = api.list_models(filter=list(filters), sort=sort, limit=limit,
                                  expand=list(DEFAULT_EXPAND), token=token)
        iterator = iter(listing)
    except Exception as e:  # noqa: BLE001 - every listing failure means the same to users
        raise _access_error(e, endpoint, token) from e
    with tempfile.TemporaryDirectory(prefix="advisor-cards-") as cache_dir:
        while True:
            try:
                m = next(iterator)
            except StopIteration:
                return
            except Exception as e:  # noqa: BLE001 - network errors surface while paging
                raise _access_error(e, endpoint, token) from e
            report.read += 1
            if not getattr(m, "id", None):
                report.skip("missing_id")
                continue
            card = _load_card(api, m.id, token, cache_dir, report) if with_cards else None
            try:
                pair = model_from_hub(m, card, report)
            except Exception as e:  # noqa: BLE001 - one odd record must not stop a build
                report.skip("bad_row", f"{m.id}: {type(e).__name__}: {e}")
                continue
            report.kept += 1
            yield pair
