"""Upload a built index to a Hub dataset repo (``python -m builder push``).

:func:`push_index` checks the index first (manifest readable, every file matching the
sha256 the build recorded: a damaged index is never shipped), then creates the dataset
repo if needed (``create_repo(repo_type="dataset", exist_ok=True)``), the branch when
``revision`` is given, and uploads the whole directory in one commit
(``upload_folder``). The app downloads it with :func:`advisor.hub_index.fetch_index`.

The token comes from ``cfg.hf_token`` (``HF_TOKEN``) and is handed to huggingface_hub
only; it is never printed or logged. Files left from an older push that the new index
no longer has stay in the repo; the app ignores them (only the manifest's files are
checked and loaded). This module does not build indexes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from advisor.config import Config
from advisor.errors import IndexUploadError
from advisor.hub_index import verify_files
from advisor.index import read_manifest

log = logging.getLogger(__name__)

REPO_TYPE = "dataset"
# huggingface_hub's local_dir bookkeeping and the builder's temp dirs are not the index
IGNORE_PATTERNS = [".cache/**", ".*"]


@dataclass(frozen=True)
class PushResult:
    repo_id: str
    revision: str | None
    commit_url: str
    files: int

    def summary(self) -> str:
        rev = f"@{self.revision}" if self.revision else ""
        return (f"Pushed {self.files} index files to dataset {self.repo_id}{rev}: "
                f"{self.commit_url}")


def push_index(cfg: Config, repo_id: str, revision: str | None = None,
               private: bool = False) -> PushResult:
    """Upload ``cfg.index_dir`` to the dataset ``repo_id`` (module doc).

    Raises:
        IndexNotFoundError / IndexMismatchError / IndexCorruptError: the index is not
            there, too old, or damaged (rebuild it first).
        IndexUploadError: offline, no token, or the Hub refused or could not be reached.
    """
    index_dir = Path(cfg.index_dir)
    manifest = read_manifest(index_dir)
    n = verify_files(index_dir, manifest)
    where = f"dataset {repo_id}" + (f"@{revision}" if revision else "")
    if cfg.hub_offline:
        raise IndexUploadError(
            f"HF_HUB_OFFLINE is set, so {index_dir} cannot be pushed to {where}. "
            "Unset HF_HUB_OFFLINE and retry."
        )
    if not cfg.hf_token:
        raise IndexUploadError(
            f"Pushing to {where} needs a token with write access: set HF_TOKEN "
            "(https://huggingface.co/settings/tokens) and retry."
        )
    from huggingface_hub import HfApi

    api = HfApi(endpoint=cfg.hf_endpoint, token=cfg.hf_token)
    counts = manifest.get("counts") or {}
    message = (f"Reuse Advisor index built {manifest.get('built_at')}: "
               f"{counts.get('chunks', 0):,} chunks, {manifest.get('embed_model')}")
    try:
        api.create_repo(repo_id, repo_type=REPO_TYPE, private=private, exist_ok=True)
        if revision:
            api.create_branch(repo_id, repo_type=REPO_TYPE, branch=revision, exist_ok=True)
        info = api.upload_folder(
            folder_path=str(index_dir), repo_id=repo_id, repo_type=REPO_TYPE,
            revision=revision, commit_message=message, ignore_patterns=IGNORE_PATTERNS,
        )
    except Exception as e:  # noqa: BLE001 - HTTP, auth, network: the same advice
        first = str(e).splitlines()[0] if str(e) else ""
        raise IndexUploadError(
            f"Could not upload {index_dir} to {where} ({type(e).__name__}: {first}). "
            "Check that HF_TOKEN has write access to the repo's owner, the repo id, "
            "and HF_ENDPOINT; then retry."
        ) from e
    result = PushResult(repo_id, revision, str(getattr(info, "commit_url", info)), n)
    log.info("%s", result.summary())
    return result
