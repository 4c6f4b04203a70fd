"""``python tests/fake_embedder_app.py``: ``app.py`` as is, except that an index built with
the tests' FakeEmbedder (``ADVISOR_EMBED_MODEL=fake-hash-64``, e.g. the ``small_index_dir``
fixture) gets that embedder as its query encoder; any other model loads as in app.py.

The FakeEmbedder exists only in-process, so a test that starts the app as a subprocess on
the small index (``tests/test_bench_smoke.py``, ``bench/fresh_start.py``) starts it
through this file. Nothing else is changed: download, engine load, server and answers are
the app's own.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import advisor.embedding  # noqa: E402 - after the path fix
from tests.conftest import FakeEmbedder  # noqa: E402

_real_embedder_for = advisor.embedding.embedder_for


def _embedder_for(cfg):
    fake = FakeEmbedder()
    return fake if cfg.embed_model == fake.model_id else _real_embedder_for(cfg)


advisor.embedding.embedder_for = _embedder_for  # the engine looks it up when it loads
runpy.run_path(str(REPO / "app.py"), run_name="__main__")
