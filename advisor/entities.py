"""Entity linking: the models a question names, resolved against the index.

"I fine-tuned camembert-base and ...", "is there a smaller openai/whisper-large-v3?",
"wav2vec2-large-xlsr-53-german gives ..." name models the index knows. Their records
tell the task, languages, library and size of what the user has, which the request
parser (:mod:`advisor.recommender`) uses as evidence and as a reference point for
"a smaller / multilingual / faster version of X".

Matching is exact and data-driven: full ``owner/name`` ids, and bare names (the part
after the slash, or ids without an owner) that identify one model (the most downloaded
one when several owners share a name). No list of families is kept here; this module
does not guess tasks from words.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from advisor.types import ModelInfo

MIN_BARE_NAME_CHARS = 5  # "gpt2", "bart" are words in questions; "t5-small" is a name
_FULL_ID = re.compile(r"(?<![\w./-])([A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95})")
_BARE = re.compile(r"(?<![\w./-])([A-Za-z][\w.-]{3,95})")
_SIZE_RELATIVE = re.compile(
    r"\b(smaller|lighter|faster|tinier|cheaper|distilled|compact|quantized|quantised)\b", re.I)


@dataclass(frozen=True)
class ModelMention:
    """A model named in the text: what was written and the record it resolved to."""

    text: str
    model: ModelInfo


class EntityLinker:
    """Finds known model ids in text. Build once per index (a second for ~45k models)."""

    def __init__(self, models: Mapping[str, ModelInfo]):
        self.models = models
        self._full: dict[str, str] = {}
        bare: dict[str, tuple[int, str]] = {}
        # task names are words, not names: "my text-classification model" must not link
        # to a repo that happens to be called text-classification
        tasks = {m.pipeline_tag.lower() for m in models.values()
                 if isinstance(m.pipeline_tag, str)}
        for mid, m in models.items():
            low = mid.lower()
            self._full[low] = mid
            name = low.split("/")[-1]
            # a bare name counts when it looks like a model name: a separator or a digit
            if (len(name) >= MIN_BARE_NAME_CHARS and re.search(r"[-_.\d]", name)
                    and name not in tasks):
                prev = bare.get(name)
                if prev is None or m.downloads > prev[0]:
                    bare[name] = (m.downloads, mid)
        self._bare = {k: v[1] for k, v in bare.items()}

    def find(self, text: str) -> list[ModelMention]:
        """Models named in ``text``, in order of first mention, each once."""
        out: list[ModelMention] = []
        seen: set[str] = set()
        spans: list[tuple[int, int]] = []
        for m in _FULL_ID.finditer(text or ""):
            cand = m.group(1).rstrip(".-")
            mid = self._full.get(cand.lower())
            if mid and mid not in seen:
                seen.add(mid)
                out.append(ModelMention(cand, self.models[mid]))
            spans.append(m.span())
        for m in _BARE.finditer(text or ""):
            if any(a <= m.start() < b for a, b in spans):
                continue
            cand = m.group(1).rstrip(".-")
            low = cand.lower()
            mid = self._full.get(low) or self._bare.get(low)
            if mid and mid not in seen:
                seen.add(mid)
                out.append(ModelMention(cand, self.models[mid]))
        return out


def wants_smaller(text: str) -> bool:
    """True when the text asks for a smaller/faster variant of something it names."""
    return bool(_SIZE_RELATIVE.search(text or ""))
