"""A local HTTP server that answers like the Hugging Face Hub, for dataset repos only.

The tests push to it and download from it (``tests/test_hub_index.py``), and
``bench/fresh_start.py`` serves the index from it to a freshly started app. Repos live in
memory as git-like commits ({path: bytes}); the server answers the calls huggingface_hub
makes for ``python -m builder push`` and :func:`advisor.hub_index.fetch_index`:
create_repo (POST /api/repos/create), create_branch, upload_folder (preupload -> every
file "regular" -> the ndjson commit endpoint; a README.md's metadata check,
/api/validate-yaml, always passes), repo_info (/api/datasets/{id}/revision/{rev}),
list_repo_tree (/tree/{rev}) and the resolve URLs (HEAD for metadata, GET for bytes).

It does not do LFS or Xet (every file is sent inline in the commit, which the real Hub
also accepts for small files, and served from memory), authentication (the
``Authorization`` headers are only recorded, in ``FakeHub.auth``), models or Spaces. It
listens on 127.0.0.1 only.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse


class FakeHub:
    """In-memory dataset repos: {repo: {"branches": {name: sha}, "commits": {sha: files}}}."""

    def __init__(self):
        self.endpoint = ""  # http://127.0.0.1:<port>, set by :func:`serve`
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


def make_handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    """The request handler class answering for ``hub``."""

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
            if path == "/api/validate-yaml":  # upload_folder checks a README.md's metadata
                return self._json(200, {"errors": [], "warnings": []})
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


@contextmanager
def serve() -> Iterator[FakeHub]:
    """A :class:`FakeHub` served on a free port of 127.0.0.1 by a background thread
    (``hub.endpoint`` is its URL); shut down on exit."""
    hub = FakeHub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(hub))
    thread = threading.Thread(target=server.serve_forever, name="fake-hub", daemon=True)
    thread.start()
    hub.endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield hub
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
