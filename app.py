"""Reuse Advisor's Space entry point: ``python app.py``.

Builds the Gradio app (:func:`advisor.app.layout.build_demo`) at import without blocking: the
engine loads in a background thread and, when the index is missing and auto-build is on,
the index is built first while the UI shows progress. Serves on ``GRADIO_SERVER_NAME`` /
``GRADIO_SERVER_PORT`` (default 127.0.0.1:7860) with the MCP server enabled.
"""

from __future__ import annotations

import logging

from advisor.app.process import (
    limit_blas_threads,
    limit_malloc_arenas,
    skip_missing_matplotlib,
    thin_gradio_monitoring,
)

limit_malloc_arenas()  # before the engine's and the server's threads start
limit_blas_threads()  # one BLAS thread per request: a pool only busy-waits under load
skip_missing_matplotlib()
thin_gradio_monitoring()  # before the queue exists

from advisor.app.layout import build_demo, launch_kwargs  # noqa: E402 - after the settings
from advisor.config import Config  # noqa: E402

cfg = Config.from_env()
demo = build_demo(cfg)

if __name__ == "__main__":
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Gradio's own GRADIO_SERVER_NAME/PORT, read by advisor.config and passed explicitly
    # so that the loopback default is ours, not Gradio's 0.0.0.0 on some platforms.
    demo.queue(default_concurrency_limit=cfg.queue_concurrency).launch(
        server_name=cfg.server_name,
        server_port=cfg.server_port,
        **launch_kwargs(cfg),
    )
