"""Reuse Advisor's Space entry point: ``python app.py``.

Builds the Gradio app (:func:`advisor.ui.build_demo`) at import without blocking: the
engine loads in a background thread and, when the index is missing and auto-build is on,
the index is built first while the UI shows progress. Serves on ``GRADIO_SERVER_NAME`` /
``GRADIO_SERVER_PORT`` (default 127.0.0.1:7860) with the MCP server enabled.
"""

from __future__ import annotations

import logging
import os

from advisor.config import Config
from advisor.ui import build_demo, launch_kwargs

DEFAULT_SERVER_NAME = "127.0.0.1"  # loopback locally; Spaces set GRADIO_SERVER_NAME=0.0.0.0
DEFAULT_SERVER_PORT = 7860  # Gradio's and Spaces' default

cfg = Config.from_env()
demo = build_demo(cfg)

if __name__ == "__main__":
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Gradio's own variables (read by launch() too); passed explicitly so the defaults
    # above are ours, not Gradio's 0.0.0.0 on some platforms.
    demo.queue(default_concurrency_limit=cfg.queue_concurrency).launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME") or DEFAULT_SERVER_NAME,
        server_port=int(os.environ.get("GRADIO_SERVER_PORT") or DEFAULT_SERVER_PORT),
        **launch_kwargs(cfg),
    )
