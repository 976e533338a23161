"""Plans in a real browser (issue 26): "Summarize the article" answers with a bulleted list, a marker on each
item, a small plan label; clicking an item's marker opens its own sentence highlighted in the viewer.

Reuses the server and browser of tests/test_ui_browser.py (the real `python -m ui`, Debian's Chromium).
"""

from __future__ import annotations

import pytest

from core.untrusted import inert
from tests import test_ui_browser as ui
from tests.test_ui_browser import browser, server

pytestmark = [pytest.mark.browser, pytest.mark.slow]
__all__ = ["browser", "server"]  # the fixtures, imported so that pytest finds them here


def test_summarize_the_article_shows_bullets_and_a_click_highlights_the_sentence(server, browser):
    url, _ = server
    ctx, page, watch = ui.open_page(browser, url, ui.DESKTOP)
    ui.ask(page, "Summarize the article")
    answer = ui.last_answer(page)
    items = answer.locator("ul.plan-list > li")
    assert items.count() >= 3, answer.inner_html()
    assert items.first.evaluate("li => getComputedStyle(li).listStyleType") != "none", "each item shows a marker"
    assert all(items.nth(i).locator(".cite-marker").count() == 1 for i in range(items.count()))
    assert "summary" in answer.locator(".meta .plan-label").inner_text()

    item = items.nth(1)
    sentence = item.evaluate("li => { const c = li.cloneNode(true); c.querySelectorAll('.cite-marker')"
                             ".forEach(m => m.remove()); return c.innerText; }").strip()
    item.locator(".cite-marker").click()
    quote = page.locator("#source-viewer mark.cite-quote")
    quote.wait_for()
    assert " ".join(quote.inner_text().split()) == " ".join(inert(sentence).split()), (quote.inner_text(), sentence)
    assert ui.mark_in_view(page, "#source-viewer #cite-target"), "the highlighted sentence is scrolled into view"
    page.screenshot(path=ui.ARTIFACTS / "ui-plans-summary-desktop.png", full_page=True)
    assert not watch.errors, watch.errors
    ctx.close()
