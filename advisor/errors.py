"""All custom errors of Reuse Advisor.

They subclass builtins so callers can catch broadly (``except FileNotFoundError``).
Every message says what to do next. The CLI prints ``str(error)`` on one stderr line and
exits 1; the app shows it with ``gr.Error``.
"""

from __future__ import annotations


class AdvisorError(Exception):
    """Base class: anything raised on purpose by this project."""


# INDEX ERRORS
class IndexNotFoundError(AdvisorError, FileNotFoundError):
    """No index where the configuration points.

    Message: "No index at index/. Run `python -m builder build` first."
    """


class IndexMismatchError(AdvisorError, ValueError):
    """The index was built with another format version or embedding model.

    Message: "index/ was built with embed model X (dim 384) but the configuration asks
    for Y. Rebuild with `python -m builder build --index-dir index/`."
    """


class IndexCorruptError(AdvisorError, ValueError):
    """An index file is truncated, unreadable or disagrees with the manifest."""


class IndexChecksumError(IndexCorruptError):
    """A file's sha256 differs from the one the manifest recorded at build time.

    Message: "index/vectors.faiss does not match the manifest (sha256 ..., expected ...):
    it was changed after the build. Run `python -m builder build --index-dir index/`
    (or push a fresh build) to replace it."
    """


# CORPUS / BUILD ERRORS
class CorpusNotFoundError(AdvisorError, FileNotFoundError):
    """The corpus directory or one of its expected files is missing."""


class EmptyCorpusError(AdvisorError, ValueError):
    """The sources produced no document at all."""


class HubAccessError(AdvisorError, ConnectionError):
    """The live Hub could not be reached or refused the request."""


# HUB INDEX ERRORS (advisor.hub_index, builder push)
class IndexDownloadError(HubAccessError):
    """The index dataset repo could not be downloaded (unreachable, missing, no access).

    Message: "Could not download the index from dataset owner/name@main (...). Check
    ADVISOR_INDEX_REPO / ADVISOR_INDEX_REVISION and HF_TOKEN for a private repo; the app
    builds a local index meanwhile."
    """


class IndexUploadError(HubAccessError):
    """``python -m builder push`` could not create the repo or upload the index.

    Message: "Could not upload index/ to dataset owner/name (...). Check that HF_TOKEN
    has write access to owner/ and retry."
    """


# INPUT ERRORS
class InvalidInputError(AdvisorError, ValueError):
    """User input that cannot be answered (empty, too long, malformed filters)."""


class InvalidModelIdError(InvalidInputError):
    """A model id that is not of the Hub's form ``owner/name``."""


class RateLimitError(AdvisorError, RuntimeError):
    """Too many questions from one session in a short time."""


# BACKEND ERRORS
class LLMBackendError(AdvisorError, RuntimeError):
    """The LLM backend failed (timeout, HTTP error, stream cut); callers fall back."""


class EmbeddingModelError(AdvisorError, OSError):
    """The embedding model could not be loaded."""


class KnowledgeBaseError(AdvisorError, ValueError):
    """A known-issues file under ``prompts/known_issues/`` is invalid; the message names
    the file and the field to fix."""
