"""The load test (bench/load.py) in short form: 4 users for ~15 s.

The real app (advisor.app.layout.build_demo, queued with the 2-worker concurrency app.py uses)
serves the real engine on the small real index (FakeEmbedder) on a loopback port; the
same user code as the full bench asks mixed questions through the plain HTTP API and
through gradio_client (both clients of ``bench.load --client``), chats
through the browser's queue protocol and clicks like/dislike on about half the chat
answers. Asserted: no errors, and the query log holds exactly one answered row per
answer and the feedback of every click (zero lost rows). No latency assertions.
"""

from __future__ import annotations

import pytest

from advisor.engine import Advisor
from bench.load import check_log, run_load
from tests.conftest import small_index_config
from tests.test_robustness import launch_app

SHORT_USERS = 4
SHORT_DURATION_S = 15.0


@pytest.mark.parametrize("client", ["http", "gradio_client"])
def test_short_load_no_errors_no_lost_rows(small_index, tmp_path, client):
    log_db = tmp_path / "querylog.sqlite"
    cfg = small_index_config(small_index.index_dir).replace(
        log_db=str(log_db), rate_limit_per_min=0, auto_build=False)
    demo, url = launch_app(cfg, lambda c: Advisor(c, index=small_index),
                           default_concurrency_limit=cfg.queue_concurrency)
    try:
        result = run_load(url, users=SHORT_USERS, duration_s=SHORT_DURATION_S,
                          max_actions=40, think=(0.05, 0.3), timeout=60, seed=1,
                          client=client)
        summary = result.summary()
        check = check_log(result, log_db)
    finally:
        demo.close()
    assert summary["errors"] == 0, summary["error_examples"]
    kinds = summary["by_kind"]
    assert {"ask", "chat", "recommend", "explain"} <= set(kinds), kinds
    assert summary["feedback_clicks"] > 0
    assert check["answers"] == summary["answers"] > 0
    assert check["lost"] == 0, check
    assert check["duplicated"] == 0 and check["wrong_kind_or_status"] == 0, check
    assert check["feedback_lost"] == 0, check
    assert check["rows_tagged"] == check["answers"]


def test_load_refuses_non_loopback_targets():
    with pytest.raises(SystemExit, match="127.0.0.1"):
        run_load("http://example.com:7860/", users=1, duration_s=1)
