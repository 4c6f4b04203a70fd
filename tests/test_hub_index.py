"""The index as a Hub dataset: ``python -m builder push`` and the app's download
(advisor.hub_index), both against a local HTTP server that answers like the Hub.

The server keeps repos in memory as git-like commits ({path: bytes}) and answers the
calls huggingface_hub makes: create_repo (POST /api/repos/create), create_branch,
upload_folder (preupload -> every file "regular" -> the ndjson commit endpoint),
repo_info (/api/datasets/{id}/revision/{rev}), list_repo_tree (/tree/{rev}) and the
resolve URLs (HEAD for metadata, GET for bytes). No network; no LFS (every file is sent
inline in the commit, which the real Hub also accepts for small files).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse

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
from builder.__main__ import main
from builder.push import push_index

TOKEN = "hf_invented_push_token_456"
REPO = "me/advisor-index"


class FakeHub:
    """In-memory dataset repos: {repo: {"branches": {name: sha}, "commits": {sha: files}}}."""

    def __init__(self):
        self.repos: dict[str, dict] = {}
        self.auth: list[str | None] = []
        self.seen: list[tuple[str, str]] = []

    def files(self, repo: str, rev: str) -> tuple[str, dict[str, bytes]] | None:
        r = self.repos.get(repo)
        if r is None:
            return None
        sha = r["branches"].get(rev, rev if rev in r["commits"] else None)
        return (sha, r["commits"][sha]) if sha else None

    def commit(self, repo: str, branch: str, changes: dict[str, bytes]) -> str:
        r = self.repos[repo]
        parent = r["commits"][r["branches"][branch]]
        files = {**parent, **changes}
        sha = hashlib.sha1(repr(sorted((k, hashlib.sha1(v).hexdigest())
                                       for k, v in files.items())).encode()).hexdigest()
        r["commits"][sha] = files
        r["branches"][branch] = sha
        return sha

    def tamper(self, repo: str, path: str) -> None:
        """Change one byte of ``path`` on main, in place (a corrupted mirror)."""
        sha, files = self.files(repo, "main")
        data = bytearray(files[path])
        data[len(data) // 2] ^= 0xFF
        files[path] = bytes(data)


def _handler(hub: FakeHub):
    class H(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _send(self, code: int, body: bytes = b"{}", headers: dict | None = None,
                  head: bool = False, ctype: str = "application/json"):
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if not head:
                self.wfile.write(body)

        def _json(self, code: int, obj, head: bool = False):
            self._send(code, json.dumps(obj).encode(), head=head)

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def do_POST(self):
            path = urlparse(self.path).path
            hub.auth.append(self.headers.get("Authorization"))
            hub.seen.append(("POST", path))
            body = self._body()
            if path == "/api/repos/create":
                req = json.loads(body)
                repo = f"{req.get('organization') or 'me'}/{req['name']}"
                if repo in hub.repos:
                    return self._json(409, {"error": "You already created this dataset repo",
                                            "url": f"{hub.endpoint}/datasets/{repo}"})
                empty = hashlib.sha1(b"init").hexdigest()
                hub.repos[repo] = {"branches": {"main": empty}, "commits": {empty: {}},
                                   "private": req.get("visibility") == "private" or bool(req.get("private"))}
                return self._json(200, {"url": f"{hub.endpoint}/datasets/{repo}"})
            parts = path.split("/")  # ['', 'api', 'datasets', ns, name, action, rev]
            if len(parts) >= 7 and parts[1:3] == ["api", "datasets"]:
                repo, action, rev = f"{parts[3]}/{parts[4]}", parts[5], unquote(parts[6])
                if repo not in hub.repos:
                    return self._json(404, {"error": "Repository not found"})
                if action == "branch":
                    if rev in hub.repos[repo]["branches"]:
                        return self._json(409, {"error": "Reference already exists"})
                    hub.repos[repo]["branches"][rev] = hub.repos[repo]["branches"]["main"]
                    return self._json(200, {})
                if action == "preupload":
                    files = json.loads(body)["files"]
                    return self._json(200, {"files": [
                        {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                        for f in files]})
                if action == "commit":
                    changes = {}
                    for line in body.decode().splitlines():
                        item = json.loads(line)
                        if item["key"] == "file":
                            v = item["value"]
                            assert v.get("encoding") == "base64", v.keys()
                            changes[v["path"]] = base64.b64decode(v["content"])
                        elif item["key"] != "header":
                            return self._json(400, {"error": f"unsupported {item['key']}"})
                    sha = hub.commit(repo, rev, changes)
                    return self._json(200, {"commitUrl": f"{hub.endpoint}/datasets/{repo}/commit/{sha}",
                                            "commitOid": sha})
            return self._json(404, {"error": f"no route {path}"})

        def _get(self, head: bool):
            url = urlparse(self.path)
            path = url.path
            hub.auth.append(self.headers.get("Authorization"))
            hub.seen.append(("HEAD" if head else "GET", path))
            parts = path.split("/")
            if path.startswith("/api/datasets/") and len(parts) >= 7:
                repo, action, rev = f"{parts[3]}/{parts[4]}", parts[5], unquote(parts[6])
                found = hub.files(repo, rev)
                if found is None:
                    return self._json(404, {"error": "Repository or revision not found"},
                                      head=head)
                sha, files = found
                if action == "revision":
                    return self._json(200, {
                        "id": repo, "sha": sha, "private": False,
                        "siblings": [{"rfilename": p} for p in sorted(files)]}, head=head)
                if action == "tree":
                    return self._json(200, [
                        {"type": "file", "path": p, "size": len(b),
                         "oid": hashlib.sha1(b).hexdigest()} for p, b in sorted(files.items())],
                        head=head)
            if path.startswith("/datasets/") and "/resolve/" in path:
                head_part, _, rest = path.partition("/resolve/")
                repo = head_part.removeprefix("/datasets/")
                rev, _, fname = rest.partition("/")
                found = hub.files(repo, unquote(rev))
                if found is None or unquote(fname) not in found[1]:
                    return self._send(404, b'{"error": "Entry not found"}', head=head,
                                      headers={"X-Error-Code": "EntryNotFound"})
                sha, files = found
                data = files[unquote(fname)]
                return self._send(200, data, head=head, ctype="application/octet-stream",
                                  headers={"X-Repo-Commit": sha,
                                           "ETag": f'"{hashlib.sha1(data).hexdigest()}"'})
            return self._json(404, {"error": f"no route {path}"}, head=head)

        def do_GET(self):
            self._get(head=False)

        def do_HEAD(self):
            self._get(head=True)

    return H


@pytest.fixture
def hub(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # read once at import
    state = FakeHub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("HF_ENDPOINT", state.endpoint)
    # huggingface_hub fetches its user-agent registry from constants.ENDPOINT (read at
    # import, not our endpoint argument): keep the test off the network
    from huggingface_hub.utils import _detect_agent

    monkeypatch.setattr(_detect_agent, "_fetch_registry", lambda: None)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    yield state
    server.shutdown()
    server.server_close()


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
