"""Model-card parsing shared by every model source (2022 snapshot, live Hub).

What it does:
- :func:`parse_front_matter` / :func:`split_sections`: YAML front matter (tolerant: broken
  YAML gives ``{}`` and a flag, never an exception) and markdown sections (ATX headings
  outside fenced code; text before the first heading is the ``"description"``).
- :func:`card_quality`: score 0..1 = share of the 8 sections of ``docs/design.md`` that a
  card has, plus the list of missing ones.
- :func:`extract_label_map`: ``"LABEL_0" -> "negative"`` from ``id2label`` dicts and from
  the ways cards state labels ("LABEL_0: negative", "| LABEL_1 | positive |",
  "0 -> Negative" near the word "label").
- Metadata helpers used by all model sources: :func:`license_family`, :func:`languages_from`,
  :func:`formats_from_files`, :func:`prioritised_sections` and :func:`model_document`
  (the one place that shapes a model :class:`Document`).

It does not read files or call the Hub; the sources in :mod:`builder.sources` do.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from advisor.types import MODEL_URL, Document, ModelInfo

# libyaml's C safe loader when PyYAML was built with it (the wheels are): parsing 16k
# cards' front matter took ~37 s of a 40 s no-change rebuild with the pure-Python one.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

log = logging.getLogger(__name__)

# --- sections ------------------------------------------------------------------------
QUALITY_SECTIONS: tuple[str, ...] = (
    "description",
    "intended uses",
    "limitations/bias",
    "training data",
    "evaluation",
    "how-to-use code",
    "licence",
    "citation",
)
MIN_DESCRIPTION_CHARS = 80  # a one-line "hello" or a bare title is not a description
NO_CARD_MARKERS = ("Error: the path 'README.md' does not exist",)  # the 2022 scrape's "no card"

_FENCE = re.compile(r"^\s*(```|~~~)")
_ATX = re.compile(r"^\s{0,3}(#{1,6})\s+(.+?)\s*#*\s*$")
_BOLD_LINE = re.compile(r"^\s*(?:\*\*|__|<b>)(.{2,60}?)(?:\*\*|__|</b>)\s*:?\s*$", re.I)
_FRONT = re.compile(r"\A\ufeff?---[ \t]*\r?\n(.*?)\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.S)
_HOWTO_CODE = re.compile(r"\bpipeline\s*\(|\.from_pretrained\s*\(|SentenceTransformer\s*\(")
_CITATION_TEXT = re.compile(r"@(?:inproceedings|article|misc|InProceedings|techreport)\s*\{")

# Section kinds, by heading keywords, in retrieval priority order. ``None`` = boilerplate
# (dropped from retrieval text: citations, contacts, framework versions).
_KIND_PATTERNS: tuple[tuple[str | None, re.Pattern], ...] = (
    (None, re.compile(r"citation|cite|citing|bibtex|reference|acknowledg|contact|"
                      r"author|team member|framework version|about us|funding", re.I)),
    ("labels", re.compile(r"\blabel", re.I)),
    ("intended", re.compile(r"intended|\buses\b|use.?cases?|out.of.scope|limitation|bias|"
                            r"risk|ethic|caveat|disclaimer|fairness", re.I)),
    ("usage", re.compile(r"how to|usage|use (?:the|this|it)|example|quick.?start|getting started|"
                         r"inference|\bcode\b|\bdemo\b|in action|installation|\busing\b", re.I)),
    ("evaluation", re.compile(r"eval|result|performance|metric|benchmark|accuracy|score", re.I)),
    ("training data", re.compile(r"training (?:and evaluation )?data|dataset|\bdata\b|corpus", re.I)),
    ("description", re.compile(r"description|overview|introduction|about|summary|\bmodel\b|"
                               r"abstract|details|architecture", re.I)),
    ("training", re.compile(r"train|fine.?tun|pre.?train|hyperparameter|preprocess|procedure", re.I)),
)
SECTION_PRIORITY: tuple[str, ...] = (
    "description", "usage", "intended", "labels", "training data", "evaluation", "training", "other",
)


@dataclass
class FrontMatter:
    data: dict[str, Any]
    broken: bool = False  # YAML present but unparsable


# Hub repo ids: owner/name of letters, digits, '-', '_', '.'. Looser than
# advisor.recommender.validate_model_id (which users' input must pass): the 2022
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


def _strip_front(card_md: str) -> tuple[str | None, str]:
    m = _FRONT.match(card_md or "")
    if not m:
        return None, card_md or ""
    return m.group(1), card_md[m.end():]


def parse_front_matter(card_md: str) -> FrontMatter:
    """YAML between leading ``---`` lines; ``{}`` when absent; ``broken=True`` when invalid."""
    raw, _ = _strip_front(card_md)
    if raw is None:
        return FrontMatter({})
    try:
        data = yaml.load(raw, Loader=_YAML_LOADER)  # noqa: S506 - a safe loader
    except yaml.YAMLError as e:
        log.debug("broken YAML front matter: %s", e)
        return FrontMatter({}, broken=True)
    if data is None:
        return FrontMatter({})
    if not isinstance(data, dict):
        return FrontMatter({}, broken=True)
    return FrontMatter(data)


def is_missing_card(card_md: str | None) -> bool:
    text = (card_md or "").strip()
    return not text or any(text.startswith(m) for m in NO_CARD_MARKERS)


def _split_with_levels(card_md: str) -> list[tuple[int, str, str]]:
    """(level, heading, body) with front matter removed; level 0 = before any heading."""
    _, body = _strip_front(card_md or "")
    out: list[tuple[int, str, list[str]]] = [(0, "description", [])]
    in_code = False
    for line in body.splitlines():
        if _FENCE.match(line):
            in_code = not in_code
        elif not in_code:
            m = _ATX.match(line)
            if m:
                heading = re.sub(r"<[^>]+>|[*_`]", "", m.group(2)).strip()
                out.append((len(m.group(1)), heading or "section", []))
                continue
        out[-1][2].append(line)
    return [(lvl, h, "\n".join(lines).strip()) for lvl, h, lines in out]


def split_sections(card_md: str) -> list[tuple[str, str]]:
    """``[(heading, text), ...]`` in card order; headings inside code blocks are text.

    The text before the first heading is ``("description", ...)``; sections with no text
    are dropped.
    """
    return [(h, t) for _, h, t in _split_with_levels(card_md) if t]


def section_kind(heading: str) -> str | None:
    """Classify a heading: one of :data:`SECTION_PRIORITY`, or ``None`` for boilerplate."""
    for kind, pattern in _KIND_PATTERNS:
        if pattern.search(heading):
            return kind
    return "other"


def _headings(card_md: str) -> list[str]:
    """ATX headings plus bold-only lines (``**Labels**:``), outside code."""
    heads = [h for lvl, h, _ in _split_with_levels(card_md) if lvl > 0]
    in_code = False
    for line in _strip_front(card_md or "")[1].splitlines():
        if _FENCE.match(line):
            in_code = not in_code
        elif not in_code and (m := _BOLD_LINE.match(line)):
            heads.append(m.group(1))
    return heads


def _code_blocks(card_md: str) -> list[str]:
    blocks, cur, in_code = [], [], False
    for line in (card_md or "").splitlines():
        if _FENCE.match(line):
            if in_code:
                blocks.append("\n".join(cur))
                cur = []
            in_code = not in_code
        elif in_code:
            cur.append(line)
    return blocks


def card_quality(card_md: str, front_matter: dict | None) -> tuple[float, list[str]]:
    """(share of :data:`QUALITY_SECTIONS` present, names of the missing ones).

    A section counts as present when a heading (or bold pseudo-heading) names it; the
    description needs :data:`MIN_DESCRIPTION_CHARS` of text before the first heading, under
    the title heading, or under a description-like heading; how-to-use needs a code block
    calling ``pipeline(``/``from_pretrained(``; licence may come from front matter
    ``license``; evaluation from ``model-index``; training data from ``datasets``; citation
    from a BibTeX entry.
    """
    fm = front_matter or {}
    if is_missing_card(card_md):
        return 0.0, list(QUALITY_SECTIONS)
    parts = _split_with_levels(card_md)
    heads = " | ".join(_headings(card_md)).lower()
    first_titled = next((i for i, (lvl, _, _) in enumerate(parts) if lvl > 0), None)
    desc_ok = any(
        len(text) >= MIN_DESCRIPTION_CHARS
        and (i == 0 or i == first_titled or section_kind(h) == "description")
        for i, (_, h, text) in enumerate(parts)
    )
    present = {
        "description": desc_ok,
        "intended uses": bool(re.search(r"intended|\buses\b|use.?cases?|out.of.scope|"
                                        r"direct use|downstream use", heads)),
        "limitations/bias": bool(re.search(r"limitation|bias|risk|ethic|caveat|fairness", heads)),
        "training data": bool(re.search(r"train|dataset|\bdata\b|corpus|fine.?tun", heads))
        or bool(fm.get("datasets")),
        "evaluation": bool(re.search(r"eval|result|performance|metric|benchmark|accuracy", heads))
        or bool(fm.get("model-index") or fm.get("model_index")),
        "how-to-use code": any(_HOWTO_CODE.search(b) for b in _code_blocks(card_md)),
        "licence": bool(fm.get("license") or fm.get("licence"))
        or bool(re.search(r"licen[cs]e", heads)),
        "citation": bool(re.search(r"citation|cite|citing|bibtex", heads))
        or bool(_CITATION_TEXT.search(card_md)),
    }
    missing = [name for name in QUALITY_SECTIONS if not present[name]]
    return round(1 - len(missing) / len(QUALITY_SECTIONS), 3), missing


# --- label maps ----------------------------------------------------------------------
MAX_LABEL_CHARS = 40  # longer "labels" are sentences, not class names
MAX_LABEL_WORDS = 3  # "very negative" is a label; "non-toxic in the output" is prose
_VALUE = r"[\"'`*]*([A-Za-z][\w .\-/&+]{0,39}?)[\"'`*]*"
_LABEL_SEP = re.compile(r"LABEL_(\d+)[\"'`*]*\s*(?:->|=>|→|:|=|means|corresponds to|is|-)\s*" + _VALUE
                        + r"\s*(?:[;,.)\n|]|$)", re.M)
_LABEL_TABLE = re.compile(r"\|\s*[`*]*LABEL_(\d+)[`*]*\s*\|\s*[`*]*([^|\n]{1,40}?)[`*]*\s*\|")
_NUM_LINE = re.compile(r"^\s*(?:[-*]\s*)?[\"']?(\d{1,2})[\"']?\s*(?:->|=>|→|:|=)\s*" + _VALUE
                       + r"\s*[;,.]?\s*$", re.M)
_ID2LABEL_DICT = re.compile(r"(?:id2label|label_?(?:map|index|dict|names)?)[\"']?\s*[:=]\s*\{([^{}]{1,2000})\}", re.I)
_DICT_PAIR = re.compile(r"[\"']?(LABEL_\d+|\d+)[\"']?\s*:\s*[\"']([^\"'\n]{1,40})[\"']")
LABEL_CONTEXT_CHARS = 300  # "0 -> Negative" lines count only this close after "label"


def _label_key(k: Any) -> str | None:
    s = str(k).strip()
    if re.fullmatch(r"\d+", s):
        return f"LABEL_{int(s)}"
    if re.fullmatch(r"LABEL_\d+", s):
        return s
    return None


def _clean_value(v: Any) -> str | None:
    s = str(v).strip().strip("\"'`*:;,.").strip()
    if (not s or len(s) > MAX_LABEL_CHARS or len(s.split()) > MAX_LABEL_WORDS
            or re.fullmatch(r"LABEL_\d+|[\d.]+", s)):
        return None
    if s.lower() in {"score", "label", "the", "a", "is"}:
        return None
    return s


def _find_id2label(obj: Any, depth: int = 0) -> dict | None:
    if depth > 4:
        return None
    if isinstance(obj, dict):
        for key in ("id2label", "id_to_label"):
            if isinstance(obj.get(key), dict):
                return obj[key]
        for v in obj.values():
            if (found := _find_id2label(v, depth + 1)) is not None:
                return found
    elif isinstance(obj, list):
        for v in obj:
            if (found := _find_id2label(v, depth + 1)) is not None:
                return found
    return None


def extract_label_map(card_md: str, config: dict | None) -> dict[str, str]:
    """``{"LABEL_0": "negative", ...}`` from an ``id2label`` dict and the card text.

    ``config`` may be a ``config.json`` dict or the card's front matter; its ``id2label``
    wins over text. Numeric keys become ``LABEL_<n>``; entries that map a label to itself
    (``LABEL_0 -> LABEL_0``) are dropped. Text patterns, in order: ``LABEL_n: name``
    (also ``->``, ``=``, ``|`` tables), dict literals such as ``{'LABEL_0': 'positive'}``
    or ``id2label = {0: "neg"}``, and runs of at least two numbered lines ``0 -> Negative``
    within :data:`LABEL_CONTEXT_CHARS` after the word "label".
    """
    out: dict[str, str] = {}

    def add(k: Any, v: Any) -> None:
        key, val = _label_key(k), _clean_value(v)
        if key and val and key not in out and val != key:
            out[key] = val

    found = _find_id2label(config) if config else None
    if found:
        for k, v in found.items():
            add(k, v)
        if out:
            return dict(sorted(out.items(), key=lambda kv: int(kv[0][6:])))
    text = card_md or ""
    if "label" not in text.lower() and "LABEL_" not in text:
        return {}
    for m in _LABEL_TABLE.finditer(text):
        add(m.group(1), m.group(2))
    for m in _LABEL_SEP.finditer(text):
        add(m.group(1), m.group(2))
    for m in _ID2LABEL_DICT.finditer(text):
        for p in _DICT_PAIR.finditer(m.group(1)):
            add(p.group(1), p.group(2))
    if not out:
        lower = text.lower()
        run: list[tuple[int, str, int]] = []
        for m in _NUM_LINE.finditer(text):
            if run and (int(m.group(1)) != run[-1][0] + 1 or m.start() - run[-1][2] > 80):
                if len(run) >= 2:
                    break
                run = []
            if not run and "label" not in lower[max(0, m.start() - LABEL_CONTEXT_CHARS):m.start()]:
                continue
            run.append((int(m.group(1)), m.group(2), m.end()))
        if len(run) >= 2:
            for k, v, _ in run:
                add(k, v)
    return dict(sorted(out.items(), key=lambda kv: int(kv[0][6:])))


# --- metadata helpers ----------------------------------------------------------------
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


def prioritised_sections(card_md: str) -> list[tuple[str, str]]:
    """Card sections for retrieval, most useful first; boilerplate dropped.

    Order: :data:`SECTION_PRIORITY` (description, how-to-use, intended uses and
    limitations, labels, training data, evaluation, training procedure, other), card order
    within a kind. The first titled section counts as description when nothing precedes it.
    """
    parts = _split_with_levels(card_md)
    ranked: list[tuple[int, int, str, str]] = []
    first_titled = next((i for i, (lvl, _, _) in enumerate(parts) if lvl > 0), None)
    has_intro = bool(parts and parts[0][2])
    for i, (_, heading, text) in enumerate(parts):
        if not text:
            continue
        kind = "description" if i == 0 else section_kind(heading)
        if i == first_titled and not has_intro and kind in ("other", "description"):
            kind = "description"
        if kind is None:
            continue
        ranked.append((SECTION_PRIORITY.index(kind), i, heading, text))
    ranked.sort()
    return [(h, t) for _, _, h, t in ranked]


def _human(n: int | None) -> str:
    if not n:
        return ""
    for unit, div in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= div:
            return f"{n / div:.3g}{unit}"
    return str(n)


MAX_HEADER_LABELS = 8  # more labels than this are listed as "+N more" in the header


def model_header(info: ModelInfo) -> str:
    """The compact metadata text that opens every model's first chunk."""
    facts = [
        f"task: {info.pipeline_tag}" if info.pipeline_tag else "",
        f"library: {info.library}" if info.library else "",
        f"languages: {', '.join(info.languages[:6])}" if info.languages else "",
        f"license: {info.license} ({info.license_family})" if info.license else "",
        f"{_human(info.parameters)} parameters" if info.parameters else "",
        f"{info.downloads:,} downloads" + (" (2022, monthly)" if info.source == "2022" else ""),
        f"{info.likes:,} likes",
    ]
    lines = [f"Model {info.id}. " + "; ".join(f for f in facts if f) + "."]
    if info.source != "2026":
        missing = f"; missing: {', '.join(info.missing_sections)}" if info.missing_sections else ""
        lines.append(f"Card quality {info.card_quality:.2f}{missing}.")
    if info.label_map:
        items = list(info.label_map.items())
        more = f" (+{len(items) - MAX_HEADER_LABELS} more)" if len(items) > MAX_HEADER_LABELS else ""
        lines.append("Labels: " + ", ".join(f"{k}={v}" for k, v in items[:MAX_HEADER_LABELS]) + more + ".")
    return "\n".join(lines)


def model_metadata(info: ModelInfo) -> dict[str, Any]:
    """Flat filter fields stored with every chunk of a model."""
    return {
        "model_id": info.id,
        "source": info.source,
        "task": info.pipeline_tag,
        "library": info.library,
        "languages": list(info.languages),
        "license": info.license,
        "license_family": info.license_family,
        "parameters": info.parameters,
        "downloads": info.downloads,
        "likes": info.likes,
        "card_quality": info.card_quality,
        "gated": info.gated,
    }


def model_document(info: ModelInfo, card_md: str | None, kind: str = "model") -> Document:
    """The retrievable document for a model: header text + prioritised card sections."""
    prefix = "model2026" if kind == "model2026" else "model"
    return Document(
        id=f"{prefix}:{info.id}",
        kind=kind,  # type: ignore[arg-type]
        title=info.id,
        text=model_header(info),
        url=MODEL_URL.format(id=info.id),
        metadata=model_metadata(info),
        sections=prioritised_sections(card_md) if card_md and not is_missing_card(card_md) else [],
    )


def card_facts(info: ModelInfo, card_md: str | None, front_matter: dict | None = None,
               config: dict | None = None) -> ModelInfo:
    """Fill ``card_chars``, ``card_quality``, ``missing_sections``, ``label_map`` in place."""
    card = "" if is_missing_card(card_md) else (card_md or "")
    info.card_chars = len(card)
    info.card_quality, info.missing_sections = card_quality(card, front_matter)
    fm = front_matter or {}
    info.label_map = extract_label_map(card, {"config": config or {}, "front_matter": fm})
    return info
