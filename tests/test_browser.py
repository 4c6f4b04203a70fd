"""The app in a real browser (Playwright driving Debian's chromium).

Starts ``python app.py`` on a small real index (shared with ``test_app_e2e``; built
once per session), then: asks a question in the Ask tab and sees the answer stream in
with its Sources; clicks dislike and finds the feedback in the log; opens Insights and
finds the question counted among the disliked answers; uses Find a model and Explain my
output; opens the ``/widget`` page and checks it shows the chat only. Each tab is
screenshotted to a temp dir, or to ``docs/screenshots/`` with
``ADVISOR_UPDATE_SCREENSHOTS=1``.

Playwright's browser download needs the internet, so the test uses the system chromium
(``.ci/install_browser.sh``). Without it the test skips, except under ``CI=true``
where a missing browser is a failure.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from advisor.config import Config
from advisor.maintainers.querylog import QueryLog
from tests.test_app_e2e import REPO, build_small_index, served_app

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
QUESTION = "My text classifier returns LABEL_0 and LABEL_1. What do they mean?"
WIDGET_QUESTION = "My model prints [{'label': 'LABEL_1', 'score': 0.97}]. What does it mean?"
UI_TIMEOUT_MS = 60_000  # one answer on 2 busy cores, with margin


def _chromium() -> str:
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    reason = "chromium not installed (run .ci/install_browser.sh)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; CI must run the browser test.")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser_app(corpus_dir, tmp_path_factory):
    index = build_small_index(corpus_dir, tmp_path_factory.getbasetemp())
    log_db = tmp_path_factory.mktemp("browser-log") / "querylog.sqlite"
    with served_app(index, log_db, corpus_dir) as (_, url, _):
        yield url, log_db


@pytest.fixture(scope="module")
def shots_dir(tmp_path_factory) -> Path:
    if os.environ.get("ADVISOR_UPDATE_SCREENSHOTS") == "1":
        out = REPO / "docs" / "screenshots"
        out.mkdir(parents=True, exist_ok=True)
        return out
    return tmp_path_factory.mktemp("screenshots")


def _wait_feedback(log_db: Path, question: str, value: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = QueryLog(Config(log_db=str(log_db))).rows()
        if any(r["question"] == question and r["feedback"] == value for r in rows):
            return
        time.sleep(0.3)
    raise AssertionError(f"no {value} recorded for {question!r}: {rows}")


def _scroll_to_top(locator) -> None:
    locator.evaluate(
        "root => root.querySelectorAll('*').forEach(e => {"
        " if (e.scrollHeight > e.clientHeight + 10) e.scrollTop = 0; })"
    )


@pytest.mark.slow
@pytest.mark.e2e
def test_browser_walkthrough(browser_app, shots_dir):
    from playwright.sync_api import expect, sync_playwright

    url, log_db = browser_app
    executable = _chromium()
    expect.set_options(timeout=UI_TIMEOUT_MS)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(UI_TIMEOUT_MS)
            page.goto(url, wait_until="load")
            expect(page.locator(".nav-holder")).to_be_hidden()

            # Ask: the answer streams in, then a Sources message with links
            page.fill("#ask-input textarea", QUESTION)
            page.keyboard.press("Enter")
            chat = page.locator("#ask-chat")
            expect(chat.get_by_text(QUESTION)).to_be_visible()
            expect(chat.get_by_text("Sources (")).to_be_visible()
            links = chat.locator("a[href^='https://']")
            expect(links.first).to_be_attached()
            hrefs = links.evaluate_all("els => els.map(e => e.href)")
            assert any("discuss.huggingface.co" in h or "huggingface.co/" in h for h in hrefs), (
                hrefs
            )
            expect(page.locator("#category-panel")).to_contain_text("Detected challenge")
            _scroll_to_top(chat)  # the screenshot shows the start of the answer
            page.screenshot(path=str(shots_dir / "ask.png"), full_page=True)

            # dislike the answer: recorded once in the log
            chat.get_by_role("button", name="Dislike").last.click()
            expect(page.locator("#feedback-note")).to_contain_text("Thanks")
            _wait_feedback(log_db, QUESTION, "dislike")

            # Insights: the question is counted among the disliked answers
            page.get_by_role("tab", name="Insights").click()
            expect(page.locator("#insights-summary")).to_contain_text("👎 1")
            expect(page.locator("#insights-disliked")).to_contain_text("LABEL_0 and LABEL_1")
            page.screenshot(path=str(shots_dir / "insights.png"), full_page=True)

            # Find a model
            page.get_by_role("tab", name="Find a model").click()
            page.fill("#find-task textarea", "sentiment analysis of English movie reviews")
            page.get_by_role("button", name="Find models").click()
            expect(
                page.locator("#find-table a[href^='https://huggingface.co/']").first
            ).to_be_attached()
            first_model = page.locator("#find-table a").first.inner_text()
            expect(page.locator("#find-table")).to_contain_text(first_model)
            page.screenshot(path=str(shots_dir / "find.png"), full_page=True)

            # Explain my output
            page.get_by_role("tab", name="Explain my output").click()
            page.fill("#explain-text textarea", "[{'label': 'LABEL_1', 'score': 0.9731}]")
            page.get_by_role("button", name="Explain", exact=True).click()
            expect(page.locator("#explain-answer")).to_contain_text("LABEL_1")
            page.screenshot(path=str(shots_dir / "explain.png"), full_page=True)

            page.get_by_role("tab", name="Embed & API").click()
            expect(page.locator("#embed-snippets")).to_contain_text(url.rstrip("/") + "/widget")
            page.screenshot(path=str(shots_dir / "embed.png"), full_page=True)

            # the widget: chat only, no tabs, no header, no navbar
            widget = browser.new_page(viewport={"width": 700, "height": 640})
            widget.set_default_timeout(UI_TIMEOUT_MS)
            widget.goto(url + "widget", wait_until="load")
            expect(widget.locator("#widget-chat")).to_be_visible()
            expect(widget.locator("#widget-input textarea")).to_be_visible()
            assert widget.get_by_role("tab").count() == 0
            expect(widget.locator("#advisor-header")).to_have_count(0)
            expect(widget.locator(".nav-holder")).to_be_hidden()
            widget.fill("#widget-input textarea", WIDGET_QUESTION)
            widget.keyboard.press("Enter")
            expect(widget.locator("#widget-chat").get_by_text("Sources (")).to_be_visible()
            _scroll_to_top(widget.locator("#widget-chat"))
            widget.screenshot(path=str(shots_dir / "widget.png"), full_page=True)
        finally:
            browser.close()
