"""Input validation for everything a user can type: questions, pasted outputs, filters.

:func:`clean_question` and :func:`clean_output_text` normalise text (strip, drop control
characters, NUL and lone surrogates) and refuse empty or over-long input with a message
that says what to do. :func:`parse_filters` turns the app's loosely typed filter dict
into checked values. :class:`RateLimiter` is a per-session sliding-window limiter.

This module does not decide what a question means (the engine does) and holds no
state beyond the rate limiter's timestamps. All functions are thread-safe.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import unicodedata
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from advisor.config import Config
from advisor.errors import InvalidInputError, RateLimitError

log = logging.getLogger(__name__)

# Control characters except tab and newline (pasted tracebacks keep their layout).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SURROGATES = re.compile(r"[\ud800-\udfff]")
DEFAULT_RATE_WINDOW_S = 60.0  # the limit is "per minute"
DEFAULT_MAX_SESSIONS = 10_000  # forget the oldest sessions beyond this (memory bound)
MAX_PARAMETERS = 10**13  # 10 T parameters: anything larger is a typo
MAX_FILTER_K = 50  # more rows than a beginner can read


# Access tokens users paste with tracebacks (``hf_...``, ``sk-...``): never echoed,
# logged or stored. 20+ characters: real ones are 34+ and words never look like this.
_TOKEN_LIKE = re.compile(r"\b(hf_[A-Za-z0-9]{20,}|sk-[A-Za-z0-9_-]{20,})\b")
REDACTED = "[REDACTED]"


def redact(text: str, secrets: Sequence[str | None]) -> str:
    """Replace every non-trivial secret in ``text`` with ``[REDACTED]``."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    return text


def redact_secrets(text: str, cfg: Config | None = None) -> str:
    """Replace token-like strings and the configured secrets with ``[REDACTED]``."""
    text = _TOKEN_LIKE.sub(REDACTED, text)
    return redact(text, (cfg.hf_token, cfg.openai_api_key)) if cfg is not None else text


def _clean_text(text: Any, cfg: Config | None = None) -> str:
    if text is None:
        return ""
    if not isinstance(text, str):
        raise InvalidInputError(
            f"Expected text, got {type(text).__name__}. Please type your question as text."
        )
    text = _SURROGATES.sub("", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text)
    text = unicodedata.normalize("NFC", text)
    return redact_secrets(text, cfg).strip()


def clean_question(text: Any, cfg: Config | None = None) -> str:
    """Return the question stripped of control characters; refuse empty/over-long text.

    Raises:
        InvalidInputError: empty after cleaning, or longer than ``cfg.max_question_chars``.
    """
    cfg = cfg or Config()
    out = _clean_text(text, cfg)
    if not out:
        raise InvalidInputError(
            "Please type a question, for example: "
            "'Which model should I use for sentiment analysis of German reviews?'"
        )
    if len(out) > cfg.max_question_chars:
        raise InvalidInputError(
            f"Your question is {len(out):,} characters long; the limit is "
            f"{cfg.max_question_chars:,}. Shorten it, or paste long outputs/tracebacks "
            "into the output explainer instead."
        )
    return out


def clean_output_text(text: Any, cfg: Config | None = None) -> str:
    """Like :func:`clean_question` for pasted outputs/errors (``cfg.max_output_chars``)."""
    cfg = cfg or Config()
    out = _clean_text(text, cfg)
    if not out:
        raise InvalidInputError(
            "Please paste the model output or error message you want explained."
        )
    if len(out) > cfg.max_output_chars:
        raise InvalidInputError(
            f"The pasted text is {len(out):,} characters long; the limit is "
            f"{cfg.max_output_chars:,}. Paste the last part of the traceback or the "
            "output that puzzles you."
        )
    return out


@dataclass
class Filters:
    """Checked model filters (``None`` = no constraint)."""

    task: str | None = None
    language: str | None = None
    license_family: str | None = None  # oss | non-commercial | unknown
    max_parameters: int | None = None
    min_downloads: int | None = None
    library: str | None = None
    k: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k != "extra" and v is not None}
        d.update(self.extra)
        return d


_LICENSE_FAMILIES = ("oss", "non-commercial", "unknown", "any")
_SIZE_SUFFIX = {"k": 10**3, "m": 10**6, "b": 10**9, "t": 10**12}


def _parse_count(name: str, value: Any, upper: int) -> int | None:
    """``"350M"``, ``"7b"``, ``1e9``, ``"1,000"`` -> int; ``None``/``""`` -> None."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InvalidInputError(f"Filter {name!r} must be a number, got {value!r:.60}.")
    try:
        if isinstance(value, (int, float)):
            n = float(value)
        else:
            s = value.strip().lower().replace(",", "").replace("_", "")
            mult = 1
            if s and s[-1] in _SIZE_SUFFIX:
                mult = _SIZE_SUFFIX[s[-1]]
                s = s[:-1]
            n = float(s) * mult
    except ValueError as e:
        raise InvalidInputError(
            f"Filter {name!r} must be a number such as 1000, 350M or 7B; got {value!r}."
        ) from e
    if n != n or n < 0 or n > upper:  # NaN, negative, absurd
        raise InvalidInputError(f"Filter {name!r} must be between 0 and {upper:,}; got {value!r}.")
    return int(n)


def _parse_str(name: str, value: Any, max_len: int = 100) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInputError(f"Filter {name!r} must be text, got {type(value).__name__}.")
    s = _clean_text(value)
    if not s or s.lower() in {"any", "all", "none"}:
        return None
    if len(s) > max_len:
        raise InvalidInputError(f"Filter {name!r} is too long ({len(s)} > {max_len} characters).")
    return s


def parse_filters(filters: dict[str, Any] | None) -> Filters:
    """Check the types and ranges of a filter dict from the app, API or eval command.

    Known keys: task, language, license_family (oss | non-commercial | unknown | any),
    max_parameters, min_downloads, library, k. Unknown keys are kept in ``extra`` only
    when they are simple scalars, so callers can pass through their own options.

    Raises:
        InvalidInputError: a value of the wrong type or out of range.
    """
    if filters is None:
        return Filters()
    if not isinstance(filters, dict):
        raise InvalidInputError(
            f"Filters must be a mapping such as {{'task': 'text-classification'}}, "
            f"got {type(filters).__name__}."
        )
    out = Filters()
    for key, value in filters.items():
        if key == "task":
            out.task = _parse_str(key, value)
        elif key == "language":
            out.language = _parse_str(key, value, max_len=20)
            out.language = out.language.lower() if out.language else None
        elif key in ("license_family", "license"):
            lic = _parse_str(key, value, max_len=20)
            if lic is not None and lic.lower() not in _LICENSE_FAMILIES:
                raise InvalidInputError(
                    f"Filter {key!r} must be one of {', '.join(_LICENSE_FAMILIES)}; got {value!r}."
                )
            out.license_family = lic.lower() if lic and lic.lower() != "any" else None
        elif key == "max_parameters":
            out.max_parameters = _parse_count(key, value, MAX_PARAMETERS)
        elif key == "min_downloads":
            out.min_downloads = _parse_count(key, value, 10**12)
        elif key == "library":
            out.library = _parse_str(key, value, max_len=50)
        elif key == "k":
            k = _parse_count(key, value, MAX_FILTER_K)
            if k is not None and k < 1:
                raise InvalidInputError(f"Filter 'k' must be between 1 and {MAX_FILTER_K}.")
            out.k = k
        elif isinstance(value, (str, int, float, bool)) or value is None:
            out.extra[str(key)] = value
        else:
            raise InvalidInputError(
                f"Filter {key!r} has an unsupported value type {type(value).__name__}."
            )
    return out


class RateLimiter:
    """At most ``per_min`` calls per session in any sliding window of 60 s.

    ``check(session_id)`` records a call or raises :class:`RateLimitError` saying how
    many seconds to wait. A ``per_min`` of 0 or less disables the limit.
    """

    def __init__(
        self,
        per_min: int,
        window_s: float = DEFAULT_RATE_WINDOW_S,
        clock=time.monotonic,
        max_sessions: int = DEFAULT_MAX_SESSIONS,
    ):
        self.per_min = per_min
        self.window_s = window_s
        self._clock = clock
        self._max_sessions = max_sessions
        self._calls: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, session_id: str = "default") -> None:
        if self.per_min <= 0:
            return
        now = self._clock()
        with self._lock:
            q = self._calls.pop(session_id, None) or deque()
            self._calls[session_id] = q  # re-insert: dict order = recency
            while q and now - q[0] >= self.window_s:
                q.popleft()
            if len(q) >= self.per_min:
                wait = max(1, int(self.window_s - (now - q[0]) + 0.999))
                raise RateLimitError(
                    f"Too many questions: the limit is {self.per_min} per minute. "
                    f"Please retry in {wait} s."
                )
            q.append(now)
            while len(self._calls) > self._max_sessions:
                self._calls.pop(next(iter(self._calls)))
