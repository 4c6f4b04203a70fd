"""The corpus snapshot on disk: the one check that a file or folder of it is there.

:func:`require_corpus_path` returns the path, or raises
:class:`~advisor.errors.CorpusNotFoundError` with a message that names the path and how
to point the project at the snapshot. The builder's readers and the app's trend tables
both read the snapshot, so both say the same thing when it is missing. This module reads
no file and knows none of the snapshot's formats.
"""

from __future__ import annotations

from pathlib import Path

from advisor.config import DEFAULT_CORPUS_DIR
from advisor.errors import CorpusNotFoundError


def require_corpus_path(path: Path, needed_for: str = "", folder: bool = False) -> Path:
    """``path`` if it is a file (a folder with ``folder=True``); else a typed error.

    ``needed_for`` goes into the message, e.g. ``"the trend plots"``.
    """
    path = Path(path)
    if path.is_dir() if folder else path.is_file():
        return path
    what = "folder" if folder else "file"
    why = f" ({needed_for} read it)" if needed_for else ""
    raise CorpusNotFoundError(
        f"Corpus {what} {path} not found{why}. Point ADVISOR_CORPUS_DIR (or the builder's "
        f"--corpus-dir) at the corpus snapshot directory (default {DEFAULT_CORPUS_DIR}; it "
        "holds replication/ and the *.jsonl.gz files)."
    )
