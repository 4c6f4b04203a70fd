"""The index as a Hub dataset: ``python -m builder push`` and the app's download
(advisor.hub_index), both against a local HTTP server that answers like the Hub
(:mod:`bench.fake_hub`, shared with ``bench/fresh_start.py``).

The server keeps repos in memory as git-like commits ({path: bytes}) and answers the
calls huggingface_hub makes for a push and a download. No network; no LFS (every file is
sent inline in the commit, which the real Hub also accepts for small files).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil

import pytest

from advisor.config import Config
from advisor.errors import (
    IndexChecksumError,
    IndexDownloadError,
    IndexMismatchError,
    IndexUploadError,
)
from advisor.hub_index import fetch_index
from advisor.index import file_digests, read_manifest
from bench.fake_hub import serve
from builder.__main__ import main
from builder.push import push_index

TOKEN = "hf_invented_push_token_456"
REPO = "me/advisor-index"


@pytest.fixture
def hub(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # read once at import
    with serve() as state:
        monkeypatch.setenv("HF_ENDPOINT", state.endpoint)
        # huggingface_hub fetches its user-agent registry from constants.ENDPOINT (read at
        # import, not our endpoint argument): keep the test off the network
        from huggingface_hub.utils import _detect_agent

        monkeypatch.setattr(_detect_agent, "_fetch_registry", lambda: None)
        monkeypatch.setenv("HF_TOKEN", TOKEN)
        yield state


@pytest.fixture
def pushed(hub, small_index_dir, tmp_path):
    """The small index pushed to REPO on the fake Hub; returns its Config for fetching."""
    cfg = Config.from_env(index_dir=small_index_dir)
    push_index(cfg, REPO)
    return Config.from_env(index_dir=tmp_path / "served" / "index", embed_model="fake-hash-64",
                           index_repo=REPO)


# --- push ----------------------------------------------------------------------------------
def test_push_cli_uploads_every_index_file(hub, small_index_dir, capsys, caplog):
    with caplog.at_level(logging.DEBUG):
        rc = main(["push", "--repo-id", REPO, "--index-dir", str(small_index_dir), "-v"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    sha, files = hub.files(REPO, "main")
    manifest = read_manifest(small_index_dir)
    assert set(manifest["files"]) | {"manifest.json"} == set(files)
    for rel, meta in manifest["files"].items():
        assert hashlib.sha256(files[rel]).hexdigest() == meta["sha256"]
    assert f"dataset {REPO}" in out and sha in out
    assert f"Bearer {TOKEN}" in hub.auth  # the token went to the Hub...
    assert TOKEN not in out + err + caplog.text  # ...and nowhere else


def test_push_to_a_branch_of_a_private_repo(hub, small_index_dir):
    cfg = Config.from_env(index_dir=small_index_dir)
    res = push_index(cfg, REPO, revision="v2", private=True)
    assert hub.repos[REPO]["private"] is True
    assert hub.files(REPO, "v2")[1] and not hub.files(REPO, "main")[1]
    assert res.revision == "v2" and "v2" in res.summary()
    push_index(cfg, REPO, revision="v2")  # repo and branch exist: no error


def test_push_needs_a_token_and_a_verified_index(hub, small_index_dir, tmp_path, monkeypatch):
    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(IndexUploadError, match="HF_TOKEN"):
        push_index(Config.from_env(index_dir=small_index_dir), REPO)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    broken = tmp_path / "broken"
    shutil.copytree(small_index_dir, broken)
    (broken / "vectors.faiss").write_bytes(b"not the built file")
    with pytest.raises(IndexChecksumError, match="vectors.faiss"):
        push_index(Config.from_env(index_dir=broken), REPO)
    assert REPO not in hub.repos  # nothing was created for a damaged index


def test_push_unreachable_hub_says_what_to_do(small_index_dir, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    cfg = Config(index_dir=small_index_dir, hf_token=TOKEN, hf_endpoint="http://127.0.0.1:9")
    rc_err = None
    try:
        push_index(cfg, REPO)
    except IndexUploadError as e:
        rc_err = str(e)
    assert rc_err and "HF_TOKEN has write access" in rc_err and TOKEN not in rc_err


# --- download ----------------------------------------------------------------------------------
def test_fetch_round_trip_then_reuses_the_local_copy(pushed, hub, small_index_dir):
    res = fetch_index(pushed)
    assert res.downloaded and res.index_dir == pushed.index_dir
    assert file_digests(pushed.index_dir) == file_digests(small_index_dir)
    assert read_manifest(pushed.index_dir) == read_manifest(small_index_dir)
    assert not (pushed.index_dir / ".cache").exists()
    assert not list(pushed.index_dir.parent.glob(".index.*"))  # no staging left
    # the copy loads and answers
    from advisor.index import AdvisorIndex
    from tests.conftest import FakeEmbedder

    idx = AdvisorIndex.load(pushed, embedder=FakeEmbedder())
    assert len(idx) == read_manifest(small_index_dir)["counts"]["chunks"]

    hub.seen.clear()
    again = fetch_index(pushed)
    assert not again.downloaded and again.commit == res.commit
    assert not [p for m, p in hub.seen if "/resolve/" in p and not p.endswith("manifest.json")]


def test_fetch_pins_a_revision(pushed, hub, small_index_dir):
    first = hub.files(REPO, "main")[0]
    later = read_manifest(small_index_dir)
    later["built_at"] = "2030-01-01T00:00:00+00:00"  # a later build of the same files
    later["files"]["README.md"] = {"sha256": hashlib.sha256(b"later").hexdigest(), "size": 5}
    hub.commit(REPO, "main", {"README.md": b"later", "manifest.json": json.dumps(later).encode()})
    res = fetch_index(pushed.replace(index_revision=first))
    assert res.commit == first and not (pushed.index_dir / "README.md").exists()
    res = fetch_index(pushed)
    assert res.commit != first and res.downloaded
    assert (pushed.index_dir / "README.md").read_bytes() == b"later"
    assert read_manifest(pushed.index_dir)["built_at"].startswith("2030")


def test_fetch_refuses_a_mismatched_manifest_before_downloading(pushed, hub):
    hub.seen.clear()
    with pytest.raises(IndexMismatchError, match="fake-hash-64.*ADVISOR_EMBED_MODEL"):
        fetch_index(pushed.replace(embed_model="packaged:all-MiniLM-L6-v2"))
    downloaded = [p for m, p in hub.seen if m == "GET" and "/resolve/" in p]
    assert downloaded and all(p.endswith("/manifest.json") for p in downloaded)
    assert not pushed.index_dir.exists()


def test_fetch_refuses_another_dimension(pushed, hub, small_index_dir):
    manifest = json.loads((small_index_dir / "manifest.json").read_text())
    manifest.update(embed_model="packaged:all-MiniLM-L6-v2")  # dim 64, the model makes 384
    hub.commit(REPO, "main", {"manifest.json": json.dumps(manifest).encode()})
    with pytest.raises(IndexMismatchError, match="dim 64.*384"):
        fetch_index(pushed.replace(embed_model="packaged:all-MiniLM-L6-v2"))


def test_fetch_refuses_a_tampered_file_and_keeps_the_old_index(pushed, hub, small_index_dir):
    fetch_index(pushed)
    before = file_digests(pushed.index_dir)
    later = read_manifest(small_index_dir)  # a new build to fetch...
    later["files"]["README.md"] = {"sha256": hashlib.sha256(b"later").hexdigest(), "size": 5}
    hub.commit(REPO, "main", {"README.md": b"later", "manifest.json": json.dumps(later).encode()})
    hub.tamper(REPO, "vectors.faiss")  # ...whose vectors were altered after the build
    with pytest.raises(IndexChecksumError, match="vectors.faiss"):
        fetch_index(pushed)
    assert file_digests(pushed.index_dir) == before  # the served index is untouched
    assert not list(pushed.index_dir.parent.glob(".index.*"))


def test_fetch_into_an_empty_dir_refuses_a_tampered_file(pushed, hub):
    hub.tamper(REPO, "bm25/params.index.json")
    with pytest.raises(IndexChecksumError, match="params.index.json"):
        fetch_index(pushed)
    assert not pushed.index_dir.exists()


def test_fetch_unreachable_or_missing_repo(pushed, hub):
    with pytest.raises(IndexDownloadError, match="ADVISOR_INDEX_REPO"):
        fetch_index(pushed.replace(hf_endpoint="http://127.0.0.1:9"))
    with pytest.raises(IndexDownloadError, match="no/such-repo"):
        fetch_index(pushed.replace(index_repo="no/such-repo"))
    with pytest.raises(IndexDownloadError, match="HF_HUB_OFFLINE"):
        fetch_index(pushed.replace(hub_offline=True))


# --- the app: download on start, fall back with a status line -------------------------------
class _Engine:
    def __init__(self, cfg):
        from advisor.index import read_manifest

        self.manifest = read_manifest(cfg.index_dir)


def test_app_serves_the_hub_index(pushed, small_index_dir):
    from advisor.app.lifecycle import EngineHolder

    def no_build(cfg, limit):
        raise AssertionError("built although the Hub index was usable")

    holder = EngineHolder(pushed, factory=_Engine, builder=no_build).start()
    assert holder.wait(60), holder.error
    assert holder.get().manifest == read_manifest(small_index_dir)
    assert holder.fetched and holder.status_markdown() == ""


@pytest.mark.parametrize("change", ["unreachable", "mismatched"])
def test_app_falls_back_to_auto_build_with_a_status_line(pushed, small_index_dir, change):
    from advisor.app.lifecycle import EngineHolder

    cfg = (pushed.replace(hf_endpoint="http://127.0.0.1:9") if change == "unreachable"
           else pushed.replace(embed_model="other/model"))
    built = []

    def build(cfg, limit):
        built.append(limit)
        shutil.copytree(small_index_dir, cfg.index_dir)

    holder = EngineHolder(cfg.replace(auto_build_limit=None), factory=_Engine,
                          builder=build).start()
    assert holder.wait(60), holder.error
    assert built == [None]
    status = holder.status_markdown()
    assert f"Could not use the index from dataset {REPO}@main" in status
    assert "a locally built index" in status
    assert ("ADVISOR_INDEX_REPO" in status) if change == "unreachable" else ("other/model" in status)
