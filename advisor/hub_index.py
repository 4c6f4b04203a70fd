"""Fetch a prebuilt index from a Hub dataset repo (``ADVISOR_INDEX_REPO``) and check it.

:func:`fetch_index` is what the app runs on start when ``cfg.index_repo`` is set:

1. resolve the revision (``cfg.index_revision``, default the repo's main branch) to a
   commit, so every file comes from the same commit;
2. download ``manifest.json`` alone and check it against the configuration: format
   version, embedding model, and dimension (of the configured model when it is a local
   directory, and of the shipped query encoder) - a mismatch is refused before the big
   files are downloaded;
3. if ``cfg.index_dir`` already holds that very build (same file hashes) and its files
   check out, use it as is; otherwise ``snapshot_download`` the repo into a staging
   directory beside ``cfg.index_dir``, check every file's sha256 against the manifest,
   and swap the staging directory in (the previous index stays until then).

Every failure is a typed error whose message says what to do: :class:`IndexDownloadError`
(offline, unreachable, no such repo/revision, no access), :class:`IndexMismatchError`,
:class:`IndexChecksumError` / :class:`IndexCorruptError`. The app catches them and falls
back to the local index or the auto-build (:mod:`advisor.app.lifecycle`). The token is passed to
huggingface_hub and never logged. This module does not load the index
(:class:`advisor.index.AdvisorIndex` does) and never uploads (``python -m builder push``,
:mod:`builder.push`).
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from advisor.config import Config
from advisor.errors import (
    IndexChecksumError,
    IndexCorruptError,
    IndexDownloadError,
    IndexMismatchError,
)
from advisor.index import (
    FORMAT_VERSION,
    MANIFEST_FILE,
    read_manifest,
    rebuild_hint,
    sha256_file,
    swap_dir,
)

log = logging.getLogger(__name__)

REPO_TYPE = "dataset"
DEFAULT_REVISION = "main"  # huggingface_hub's default branch
# huggingface_hub keeps its local_dir bookkeeping here; it is not part of the index
HF_LOCAL_META_DIR = ".cache"


@dataclass(frozen=True)
class FetchResult:
    index_dir: Path
    repo_id: str
    revision: str  # as asked (branch, tag or commit)
    commit: str  # the commit the files came from
    downloaded: bool  # False when the local index already was that build
    files: int  # files checked against the manifest

    def status_line(self) -> str:
        how = "downloaded" if self.downloaded else "already local"
        return (f"Serving the index from dataset {self.repo_id}@{self.revision} "
                f"(commit {self.commit[:8]}, {how}, {self.files} files checked).")


def verify_files(index_dir: Path, manifest: dict[str, Any]) -> int:
    """Check every file the manifest lists against its sha256 and size; return how many.

    Raises:
        IndexCorruptError: the manifest lists no files (built before hashes were
            recorded) or a file is missing.
        IndexChecksumError: a file's content differs from what was built.
    """
    index_dir = Path(index_dir)
    fix = f"{rebuild_hint(index_dir)} (or push a fresh build) to replace it."
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise IndexCorruptError(
            f"{index_dir}/{MANIFEST_FILE} records no file hashes, so the files cannot be "
            f"checked. {fix}"
        )
    for rel, want in sorted(files.items()):
        path = index_dir / rel
        if Path(rel).is_absolute() or ".." in Path(rel).parts:
            raise IndexCorruptError(f"{index_dir}/{MANIFEST_FILE} lists a bad path {rel!r}. {fix}")
        if not path.is_file():
            raise IndexCorruptError(f"{path} is missing. {fix}")
        got = sha256_file(path)
        if got != want.get("sha256") or path.stat().st_size != want.get("size"):
            raise IndexChecksumError(
                f"{path} does not match the manifest (sha256 {got[:12]}..., expected "
                f"{str(want.get('sha256'))[:12]}...): it was changed after the build. {fix}"
            )
    return len(files)


def fetch_index(cfg: Config) -> FetchResult:
    """Download ``cfg.index_repo`` into ``cfg.index_dir`` after checking it (module doc).

    Raises:
        IndexDownloadError: offline, unreachable, missing repo/revision/file, no access.
        IndexMismatchError: built with another format version, embedding model or dim.
        IndexCorruptError: a listed file is missing, or (IndexChecksumError) changed.
    """
    if not cfg.index_repo:
        raise ValueError("fetch_index needs cfg.index_repo (ADVISOR_INDEX_REPO)")
    repo, revision = cfg.index_repo, cfg.index_revision or DEFAULT_REVISION
    where = f"dataset {repo}@{revision}"
    if cfg.hub_offline:
        raise IndexDownloadError(
            f"HF_HUB_OFFLINE is set, so the index cannot be downloaded from {where}. "
            "Unset HF_HUB_OFFLINE, or unset ADVISOR_INDEX_REPO to use a local index."
        )
    from huggingface_hub import HfApi, hf_hub_download, snapshot_download

    index_dir = Path(cfg.index_dir)
    staging = index_dir.parent / f".{index_dir.name}.download"
    api = HfApi(endpoint=cfg.hf_endpoint, token=cfg.hf_token)
    common: dict[str, Any] = {"repo_id": repo, "repo_type": REPO_TYPE,
                              "endpoint": cfg.hf_endpoint, "token": cfg.hf_token}
    try:
        commit = api.repo_info(repo, repo_type=REPO_TYPE, revision=revision).sha
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir(parents=True)
        hf_hub_download(filename=MANIFEST_FILE, revision=commit, local_dir=staging, **common)
    except Exception as e:  # noqa: BLE001 - network, HTTP, auth: the same advice
        shutil.rmtree(staging, ignore_errors=True)
        raise _download_error(where, e) from e
    manifest = read_manifest(staging)  # IndexMismatchError on another format version
    check_manifest(manifest, cfg, where)

    local = _local_manifest(index_dir)
    if local is not None and local.get("files") == manifest.get("files"):
        try:
            n = verify_files(index_dir, local)
            shutil.rmtree(staging, ignore_errors=True)
            log.info("%s is already in %s", where, index_dir)
            return FetchResult(index_dir, repo, revision, commit, False, n)
        except Exception as e:  # noqa: BLE001 - a damaged local copy: download again
            log.warning("Local copy of %s is damaged (%s); downloading it again", where, e)

    try:
        snapshot_download(revision=commit, local_dir=staging, **common)
    except Exception as e:  # noqa: BLE001
        shutil.rmtree(staging, ignore_errors=True)
        raise _download_error(where, e) from e
    try:
        n = verify_files(staging, manifest)
        shutil.rmtree(staging / HF_LOCAL_META_DIR, ignore_errors=True)
        swap_dir(staging, index_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log.info("Downloaded %s (commit %s, %d files) into %s", where, commit[:8], n, index_dir)
    return FetchResult(index_dir, repo, revision, commit, True, n)


def check_manifest(manifest: dict[str, Any], cfg: Config, where: str) -> None:
    """Refuse an index built for another configuration (format version is checked by
    :func:`advisor.index.read_manifest`)."""
    fix = (f"Set ADVISOR_EMBED_MODEL={manifest.get('embed_model')} to use it, or build "
           f"with your settings and push: `python -m builder build && python -m builder push "
           f"--repo-id {cfg.index_repo}`.")
    if manifest.get("format_version") != FORMAT_VERSION:  # read_manifest already refuses
        raise IndexMismatchError(f"{where} has index format {manifest.get('format_version')!r}, "
                                 f"this code reads {FORMAT_VERSION}. {fix}")
    if manifest.get("embed_model") != cfg.embed_model:
        raise IndexMismatchError(
            f"{where} was built with embed model {manifest.get('embed_model')!r} but the "
            f"configuration asks for {cfg.embed_model!r}. {fix}"
        )
    dim = manifest.get("dim")
    want = expected_dim(cfg.embed_model)
    if not isinstance(dim, int) or (want is not None and dim != want):
        raise IndexMismatchError(
            f"{where} has vectors of dim {dim!r} but {cfg.embed_model!r} makes dim {want}. {fix}"
        )


def expected_dim(model: str) -> int | None:
    """The configured model's output dimension when it can be read without loading it
    (a local sentence-transformers directory, e.g. the packaged default); else None."""
    from advisor.embedding import _read_json, resolve_model_path

    try:
        path = Path(resolve_model_path(model))
        if not path.is_dir():
            return None
        modules = _read_json(path / "modules.json")
        pooling = next(m for m in modules if m.get("type", "").endswith("Pooling"))
        return int(_read_json(path / pooling["path"] / "config.json")["word_embedding_dimension"])
    except Exception:  # noqa: BLE001 - unknown layout: the loader checks dim later
        return None


def _local_manifest(index_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((index_dir / MANIFEST_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return None


def _download_error(where: str, e: Exception) -> IndexDownloadError:
    return IndexDownloadError(
        f"Could not download the index from {where} ({type(e).__name__}: "
        f"{str(e).splitlines()[0] if str(e) else ''}). Check ADVISOR_INDEX_REPO / "
        "ADVISOR_INDEX_REVISION, HF_ENDPOINT and, for a private repo, HF_TOKEN; "
        "meanwhile the app uses a local index or builds one."
    )
