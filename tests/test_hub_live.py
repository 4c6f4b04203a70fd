"""Live-Hub source against a local HTTP server that answers like the Hub (no network)."""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from advisor.errors import HubAccessError
from builder.report import SourceReport
from builder.sources.hub_live import read_hub

TOKEN = "hf_invented_test_token_123"
MODELS = [
    {"id": "org/sent", "pipeline_tag": "text-classification", "library_name": "transformers",
     "tags": ["transformers", "en", "license:apache-2.0"], "downloads": 900, "likes": 7,
     "lastModified": "2025-01-02T03:04:05.000Z", "gated": False,
     "siblings": [{"rfilename": "model.safetensors"}, {"rfilename": "README.md"}],
     "safetensors": {"parameters": {"F32": 66000000}, "total": 66000000}},
    {"id": "org/nocard", "pipeline_tag": "text-classification", "tags": ["de"], "downloads": 5,
     "likes": 0, "siblings": [{"rfilename": "pytorch_model.bin"}]},
]
CARD = """---
license: apache-2.0
language: en
---
# Sent

An invented sentiment classifier used only by this test; it labels short reviews.

## How to use
```python
from transformers import pipeline
pipeline("text-classification", model="org/sent")
```

LABEL_0: negative
LABEL_1: positive
"""


class _Hub(BaseHTTPRequestHandler):
    seen: list[dict] = []
    status = 200

    def log_message(self, *args):  # keep pytest output clean
        pass

    def _send(self, code: int, body: bytes, ctype: str = "application/json", head: bool = False):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        if code == 200 and ctype.startswith("text"):
            self.send_header("X-Repo-Commit", "a" * 40)
            self.send_header("ETag", '"card-etag-1"')
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _route(self, head: bool):
        url = urlparse(self.path)
        _Hub.seen.append({"path": url.path, "query": parse_qs(url.query),
                          "auth": self.headers.get("Authorization")})
        if url.path == "/api/models":
            if _Hub.status != 200:
                return self._send(_Hub.status, b'{"error": "nope"}', head=head)
            return self._send(200, json.dumps(MODELS).encode(), head=head)
        if url.path == "/org/sent/resolve/main/README.md":
            return self._send(200, CARD.encode(), ctype="text/plain; charset=utf-8", head=head)
        return self._send(404, b'{"error": "Entry not found"}', head=head)

    def do_GET(self):
        self._route(head=False)

    def do_HEAD(self):
        self._route(head=True)


@pytest.fixture
def hub(monkeypatch):
    import huggingface_hub.constants as constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    _Hub.seen, _Hub.status = [], 200
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    from huggingface_hub import HfApi

    yield HfApi(endpoint=f"http://127.0.0.1:{server.server_address[1]}")
    server.shutdown()
    server.server_close()


def test_read_hub_maps_metadata_and_cards(hub, caplog):
    r = SourceReport("hub")
    with caplog.at_level(logging.DEBUG):
        out = list(read_hub(hub, r, filters=["text-classification", "language:en"],
                            sort="likes", limit=5, token=TOKEN))
    assert [m.id for m, _ in out] == ["org/sent", "org/nocard"]
    listing = next(s for s in _Hub.seen if s["path"] == "/api/models")
    assert listing["query"]["filter"] == ["text-classification", "language:en"]
    assert listing["query"]["sort"] == ["likes"] and listing["query"]["limit"] == ["5"]
    assert "siblings" in listing["query"]["expand"] and "cardData" in listing["query"]["expand"]
    assert listing["auth"] == f"Bearer {TOKEN}"
    assert TOKEN not in caplog.text

    info, doc = out[0]
    assert (info.source, info.license, info.license_family, info.parameters) == ("hub", "apache-2.0", "oss", 66000000)
    assert info.formats == ["safetensors"] and info.languages == ["en"]
    assert info.label_map == {"LABEL_0": "negative", "LABEL_1": "positive"}
    assert "how-to-use code" not in info.missing_sections and info.card_chars > 0
    assert doc.id == "model:org/sent" and doc.sections and "LABEL_0=negative" in doc.text
    nocard = out[1][0]
    assert nocard.card_chars == 0 and nocard.formats == ["pytorch"] and nocard.languages == ["de"]
    assert r.kept == 2 and r.reasons["no_card"] == 1


def test_read_hub_without_cards_makes_no_card_requests(hub):
    out = list(read_hub(hub, SourceReport("hub"), filters=["text-classification"], with_cards=False))
    assert len(out) == 2
    assert all(s["path"] == "/api/models" for s in _Hub.seen)


def test_refused_token_is_a_hub_access_error(hub):
    _Hub.status = 401
    with pytest.raises(HubAccessError) as e:
        list(read_hub(hub, SourceReport("hub"), filters=["x"], token=TOKEN))
    assert "HF_TOKEN" in str(e.value) and TOKEN not in str(e.value)


def test_offline_mode_says_what_to_do(monkeypatch):
    import huggingface_hub.constants as constants
    from huggingface_hub import HfApi

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(HubAccessError) as e:
        list(read_hub(HfApi(endpoint="http://127.0.0.1:9"), SourceReport("hub"), filters=["x"]))
    assert "Unset HF_HUB_OFFLINE" in str(e.value)
