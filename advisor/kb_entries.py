"""The known-issues knowledge base's entries: reading and checking the YAML files.

Entries are data (``prompts/known_issues/<id>.yaml``, one per file; the format is in
``prompts/known_issues/README.md``). :func:`load_known_issues` reads every file into a
:class:`KnownIssue`, compiling its signatures; a file that does not parse, lacks a
required field, names an unknown category or holds a bad regex raises
:class:`~advisor.errors.KnowledgeBaseError` naming the file.

This module does not match questions (:mod:`advisor.known_issues` does) and writes no
prose.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from advisor.config import PROMPTS_DIR
from advisor.datafiles import load_yaml
from advisor.errors import KnowledgeBaseError
from advisor.taxonomy import canonical_category

KNOWN_ISSUES_DIR = PROMPTS_DIR / "known_issues"
REQUIRED = ("id", "title", "category", "description", "cause", "fix")


@dataclass(frozen=True)
class KnownIssue:
    """One entry (the fields are described in ``prompts/known_issues/README.md``)."""

    id: str
    title: str
    category: str
    subcategory: str
    description: str
    cause: str
    fix: tuple[str, ...]
    signatures: tuple[re.Pattern, ...] = ()
    libraries: tuple[str, ...] = ()
    applies_when: str = ""
    not_when: str = ""
    snippet: str = ""
    docs: str = ""
    threads: tuple[str, ...] = ()
    example: str = ""
    phrasings: tuple[str, ...] = ()  # other ways users ask about it, matched one by one

    @property
    def match_text(self) -> str:
        return f"{self.title}. {self.description}"


def _entry(path: Path, d: object) -> KnownIssue:
    if not isinstance(d, dict):
        raise KnowledgeBaseError(f"{path}: expected a mapping of fields, got {type(d).__name__}.")
    missing = [k for k in REQUIRED if not d.get(k)]
    if missing:
        raise KnowledgeBaseError(f"{path}: missing {', '.join(missing)}.")
    if d["id"] != path.stem:
        raise KnowledgeBaseError(f"{path}: id {d['id']!r} must equal the file name {path.stem!r}.")
    cat = canonical_category(str(d["category"]))
    if not cat:
        raise KnowledgeBaseError(f"{path}: unknown category {d['category']!r}; use a codebook name.")
    sigs = []
    for s in d.get("signatures") or []:
        try:
            sigs.append(re.compile(str(s), re.I))
        except re.error as e:
            raise KnowledgeBaseError(f"{path}: signature {s!r} is not a valid regex ({e}).") from e
    phrasings = d.get("phrasings") or []
    if not isinstance(phrasings, list) or not all(isinstance(x, str) and x.strip() for x in phrasings):
        raise KnowledgeBaseError(f"{path}: phrasings must be a list of non-empty strings.")
    fix = d["fix"] if isinstance(d["fix"], list) else [d["fix"]]
    as_tuple = lambda v: tuple(str(x) for x in (v or []))  # noqa: E731
    return KnownIssue(
        id=str(d["id"]), title=str(d["title"]), category=cat,
        subcategory=str(d.get("subcategory") or ""), description=" ".join(str(d["description"]).split()),
        cause=" ".join(str(d["cause"]).split()), fix=as_tuple(fix), signatures=tuple(sigs),
        libraries=as_tuple(d.get("libraries")), applies_when=str(d.get("applies_when") or ""),
        not_when=str(d.get("not_when") or ""), snippet=str(d.get("snippet") or "").rstrip(),
        docs=str(d.get("docs") or ""), threads=as_tuple(d.get("threads")),
        example=str(d.get("example") or ""), phrasings=tuple(" ".join(x.split()) for x in phrasings),
    )


def load_known_issues(directory: Path = KNOWN_ISSUES_DIR) -> list[KnownIssue]:
    """Every ``*.yaml`` entry in ``directory``, sorted by id.

    Raises:
        KnowledgeBaseError: a file that does not parse or lacks a required field; the
            message names the file.
    """
    import yaml

    out = []
    for path in sorted(Path(directory).glob("*.yaml")):
        try:
            data = load_yaml(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as e:
            raise KnowledgeBaseError(f"{path}: not valid YAML ({e}).") from e
        out.append(_entry(path, data))
    return out
