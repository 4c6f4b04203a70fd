"""Model metadata that every model source normalises the same way.

- :func:`iter_model_rows`: rows with a safe model id (:func:`is_safe_model_id`); others
  are counted skips, because ids go into URLs and markdown unescaped.
- :func:`license_from` / :func:`license_family`: the licence id (tags first, then front
  matter) and its family (oss / non-commercial / unknown).
- :func:`languages_from`: language codes from front matter and ISO 639-1 tags.
- :func:`formats_from_files`: weight formats in a repo's file list.

Used by :mod:`builder.sources.cards2022`, :mod:`builder.sources.hub2026`,
:mod:`builder.sources.hub_live` and :mod:`builder.sources.quick`. It does not read files,
parse card text (:mod:`builder.cards`) or shape documents (:mod:`builder.documents`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

# Hub repo ids: owner/name of letters, digits, '-', '_', '.'. Looser than
# advisor.modelfacts.validate_model_id (which users' input must pass): the 2022
# snapshot holds real names over 96 characters or starting with '_'.
_SAFE_MODEL_ID = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)?$")


def is_safe_model_id(model_id: str) -> bool:
    """True when ``model_id`` can go into a URL or markdown as is (no HTML, pipes,
    spaces, newlines or '..')."""
    return bool(_SAFE_MODEL_ID.match(model_id.strip())) and ".." not in model_id


def iter_model_rows(rows: Iterable[dict[str, Any]], report: Any) -> Iterator[dict[str, Any]]:
    """Rows whose ``id`` is a non-empty, safe model id; others are counted as skipped
    (``missing_id`` / ``invalid_id``: ids go into URLs and markdown unescaped)."""
    for row in rows:
        if not isinstance(row.get("id"), str) or not row["id"].strip():
            report.skip("missing_id", str(row)[:80])
        elif not is_safe_model_id(row["id"]):
            report.skip("invalid_id", repr(row["id"])[:80])
        else:
            yield row


# ISO 639-1 codes: a tag that is one of these is a language tag.
ISO_639_1 = frozenset(
    "aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu "
    "cv cy da de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi "
    "ho hr ht hu hy hz ia id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks "
    "ku kv kw ky la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl "
    "nn no nr nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl "
    "sm sn so sq sr ss st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve "
    "vi vo wa wo xh yi yo za zh zu".split()
)
MULTILINGUAL_TAGS = frozenset({"multilingual"})

# License families follow the 2026 dataset's convention: OpenRAIL, Llama and Gemma
# licences count as oss (usable commercially with use restrictions); anything naming
# non-commercial or research-only use is non-commercial; the rest is unknown.
_NC = re.compile(r"(?:^|[-_.])nc(?:[-_.]|$)|non.?commercial|research.?only|research-license|"
                 r"academic|noncommercial", re.I)
_OSS = re.compile(r"^(?:apache|mit|bsd|gpl|lgpl|agpl|mpl|cc-by|cc0|cc-by-sa|unlicense|wtfpl|"
                  r"artistic|afl|ecl|epl|eupl|isc|zlib|postgresql|ofl|bsl|pddl|odc|odbl|"
                  r"openrail|creativeml-openrail|bigscience|bigcode-openrail|llama|gemma|"
                  r"openmdw|c-uda|osl|lppl|ms-pl|ncsa|cdla|deepfloyd)", re.I)


def license_family(license_id: str | None) -> str:
    """``"oss"`` | ``"non-commercial"`` | ``"unknown"`` for a Hub licence id."""
    if not license_id:
        return "unknown"
    lic = str(license_id).strip().lower()
    if _NC.search(lic):
        return "non-commercial"
    if lic in {"other", "unknown", "cc"}:
        return "unknown"
    return "oss" if _OSS.match(lic) else "unknown"


def _as_list(v: Any) -> list[str]:
    if v is None:
        return []
    if isinstance(v, str):
        return [v]
    if isinstance(v, list | tuple):
        return [str(x) for x in v if x is not None and not isinstance(x, dict | list)]
    return []


def languages_from(tags: list[str], front_matter: dict | None = None) -> list[str]:
    """Language codes from ``language``/``languages`` in front matter and ISO tags."""
    fm = front_matter or {}
    langs: list[str] = []
    for v in _as_list(fm.get("language")) + _as_list(fm.get("languages")):
        v = v.strip().lower()
        if v and len(v) <= 12 and v not in langs:
            langs.append(v)
    for t in tags or []:
        t = t.strip().lower().removeprefix("language:")
        if (t in ISO_639_1 or t in MULTILINGUAL_TAGS) and t not in langs:
            langs.append(t)
    return langs


def license_from(tags: list[str], front_matter: dict | None = None) -> str | None:
    for t in tags or []:
        if t.startswith("license:"):
            return t.split(":", 1)[1] or None
    lic = (front_matter or {}).get("license")
    if isinstance(lic, list):
        lic = lic[0] if lic else None
    return str(lic).strip() if lic else None


# placeholder values seen in ``base_model`` fields (the 2026 list has 16 rows of "None",
# 4 of "undefined", 3 empty): a fine-tune of "None" would name a model that does not exist
_NO_BASE = frozenset({"", "none", "null", "undefined", "n/a", "na", "-"})


def base_model_from(value: Any) -> str | None:
    """The base model a record names, or None: a list gives its first item, a
    comma-separated string its first name, and placeholders (:data:`_NO_BASE`) none."""
    if isinstance(value, (list, tuple)):
        value = next((v for v in value if v is not None), None)
    if value is None:
        return None
    first = str(value).split(",")[0].strip()
    return None if first.lower() in _NO_BASE else first


_FORMATS = (
    ("safetensors", re.compile(r"\.safetensors$")),
    ("pytorch", re.compile(r"(?:^|/)pytorch_model[^/]*\.bin$|\.pt$|\.pth$")),
    ("tensorflow", re.compile(r"(?:^|/)tf_model[^/]*\.h5$|saved_model\.pb$")),
    ("flax", re.compile(r"flax_model[^/]*\.msgpack$")),
    ("onnx", re.compile(r"\.onnx$")),
    ("gguf", re.compile(r"\.gguf$")),
    ("tflite", re.compile(r"\.tflite$")),
    ("rust", re.compile(r"rust_model\.ot$")),
)


def formats_from_files(files: list[str]) -> list[str]:
    """Weight formats present in a repo's file list, in :data:`_FORMATS` order."""
    names = [f for f in files or [] if isinstance(f, str)]
    return [fmt for fmt, pat in _FORMATS if any(pat.search(n) for n in names)]
