"""The page as people use it (issue 29), walked in Chromium on a desktop (1366x900) and a phone (390x844).

Shared marker -> its own sentence; a new collection made and used; removal confirmed; a citation opened and
closed on the phone returning to the same place; tap targets; nothing typed is lost; reader words. The
server is the real `python -m ui` (tests/test_ui_browser.py starts it; its fixtures are reused here).
"""

from __future__ import annotations

import re

import pytest

from tests.test_ui_browser import (
    ARTIFACTS,
    ask,
    browser,
    last_answer,
    no_horizontal_scroll,
    open_page,
    server,
)

__all__ = ["browser", "server"]  # the fixtures, imported so pytest finds them here
pytestmark = [pytest.mark.browser, pytest.mark.slow]

DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
VIEWS = [pytest.param(DESKTOP, id="desktop"), pytest.param(PHONE, id="phone")]
SHARED = "What is the mutual defense pact?"  # three sentences of one passage carry [1]


def is_phone(view: dict) -> bool:
    return view["width"] <= 600


def close_sheet(page) -> None:
    page.click("#source-viewer .sheet-close")
    page.wait_for_function("!document.querySelector('#source-viewer').classList.contains('sheet')")


def words(text: str) -> str:
    return " ".join(re.sub(r"\s+", " ", text).split()).strip()


@pytest.mark.parametrize("view", VIEWS)
def test_a_shared_marker_opens_the_sentence_of_its_own_claim(server, browser, view):
    url, _ = server
    ctx, page, watch = open_page(browser, url, view)
    ask(page, SHARED)
    answer = last_answer(page)
    sentences = answer.locator(".sent")
    shared = [i for i in range(sentences.count()) if sentences.nth(i).locator(".ref-n1").count()]
    assert len(shared) >= 2, f"two sentences carry [1]: {answer.inner_text()}"
    quotes = []
    for i in shared:
        sentence = sentences.nth(i)
        claim = words(sentence.inner_text()).rsplit(" 1", 1)[0]  # the sentence without its marker
        sentence.locator(".ref-n1").click()
        page.wait_for_function("(c) => { const q = document.querySelector('#source-viewer mark.cite-quote');"
                               " return q && q.innerText.replace(/\\s+/g, ' ').includes(c.slice(0, 40)); }",
                               arg=claim)
        quote = words(page.inner_text("#source-viewer mark.cite-quote"))
        assert claim.rstrip(".") in quote, (claim, quote)
        quotes.append(quote)
        if is_phone(view):
            close_sheet(page)
    assert len(set(quotes)) == len(quotes), "each marker highlights its own sentence"
    page.screenshot(path=ARTIFACTS / f"ui-29-shared-marker-{'phone' if is_phone(view) else 'desktop'}.png")
    assert not watch.errors, watch.errors
    ctx.close()


def new_collection(page, name: str) -> None:
    page.get_by_role("tab", name="Documents").click()
    page.locator("#new-collection").get_by_text("New collection", exact=True).click()
    box = page.locator("#new-collection-name textarea")
    box.press_sequentially("my towns!")  # checked as it is typed, with the rule shown
    page.wait_for_function("document.querySelector('#new-collection-hint')?.innerText.includes('not allowed')")
    assert "letters, digits" in page.inner_text("#new-collection-hint")
    assert page.locator("#create-collection").is_disabled()
    box.fill("")
    box.press_sequentially(name)
    page.wait_for_function("(n) => document.querySelector('#new-collection-hint')?.innerText.includes('is free')",
                           arg=name)
    page.click("#create-collection")
    page.wait_for_function("(n) => document.querySelector('#doc-collection input')?.value === n", arg=name)


@pytest.mark.parametrize("view", VIEWS)
def test_a_new_collection_is_made_used_and_named(server, browser, view, tmp_path):
    url, data = server
    ctx, page, watch = open_page(browser, url, view)
    kind = "phone" if is_phone(view) else "desktop"
    page.get_by_role("tab", name="Documents").click()
    # the list takes no typed text: clicking it and typing can no longer make "defaulttowns"
    page.click("#doc-collection input")
    page.keyboard.type("towns")
    page.keyboard.press("Escape")
    page.locator("#app-header").click()
    page.wait_for_timeout(300)
    assert page.input_value("#doc-collection input") == "default"

    name = f"towns-{kind}"
    new_collection(page, name)
    doc = tmp_path / f"harbour-{kind}.md"
    doc.write_text(f"# Harbour {kind} notes\n\nThe Quillby harbour {kind} crane lifts 64 tonnes. It was "
                   "built in 1931 by the Tarrow ironworks.\n", "utf-8")
    page.locator("#upload input[type=file]").set_input_files(str(doc))
    page.wait_for_function("(n) => document.querySelector('#upload-status')?.innerText.includes(n)", arg=doc.name)
    status = page.inner_text("#upload-status")
    assert f"{doc.name}: added to collection “{name}”" in status, status
    assert all(f"“{name}”" in line for line in status.splitlines() if line.strip()), "every line names it"
    assert (data / "uploads" / name / doc.name).is_file(), "the file landed in the new collection"
    page.wait_for_function("(n) => document.querySelector('#app-status')?.innerText.includes(n)", arg=name)
    assert f"collection “{name}”: 1 document" in page.inner_text("#app-status")
    page.screenshot(path=ARTIFACTS / f"ui-29-new-collection-{kind}.png", full_page=True)

    # the chat now asks that collection too
    page.get_by_role("tab", name="Chat").click()
    ask(page, f"How many tonnes does the Quillby harbour {kind} crane lift?")
    answer = last_answer(page)
    assert "64 tonnes" in answer.inner_text() and f"Harbour {kind} notes" in answer.inner_text()
    assert no_horizontal_scroll(page)
    assert not watch.errors, watch.errors
    ctx.close()


@pytest.mark.parametrize("view", VIEWS)
def test_removal_asks_first_and_cancel_keeps_the_document(server, browser, view, tmp_path):
    url, data = server
    ctx, page, watch = open_page(browser, url, view)
    kind = "phone" if is_phone(view) else "desktop"
    doc = tmp_path / f"pier-{kind}.txt"
    doc.write_text(f"Pier {kind} log\n\nThe Dunmore pier {kind} is 212 metres long.\n", "utf-8")
    page.get_by_role("tab", name="Documents").click()
    page.locator("#upload input[type=file]").set_input_files(str(doc))
    page.wait_for_function("(n) => document.querySelector('#upload-status')?.innerText.includes(n + ': added')",
                           arg=doc.name)
    page.locator("#doc-pick input").fill(f"pier-{kind}")
    page.get_by_role("option", name=re.compile(f"pier-{kind}")).click()

    page.click("#remove-doc")
    page.wait_for_selector("#remove-confirm", state="visible")
    assert f"Pier {kind} log" in page.inner_text("#remove-question") and "“default”" in page.inner_text("#remove-question")
    page.screenshot(path=ARTIFACTS / f"ui-29-remove-confirm-{kind}.png", full_page=True)
    page.click("#remove-no")
    page.wait_for_selector("#remove-confirm", state="hidden")
    assert (data / "uploads" / doc.name).is_file() and f"Pier {kind} log" in page.inner_text("#doc-table")

    page.click("#remove-doc")
    page.click("#remove-yes")
    page.wait_for_function("(n) => document.querySelector('#upload-status')?.innerText.includes('removed')")
    assert "from collection “default”" in page.inner_text("#upload-status")
    page.wait_for_selector("#remove-confirm", state="hidden")
    assert not (data / "uploads" / doc.name).exists()
    assert f"Pier {kind} log" not in page.inner_text("#doc-table")
    assert not watch.errors, watch.errors
    ctx.close()


def places(page) -> dict:
    """Where the reader is: the window's scroll and the chat's own scroll box."""
    return page.evaluate("""() => {
      const chat = document.querySelector('#chat');
      const box = [chat, ...chat.querySelectorAll('*')].find(el => el.scrollHeight > el.clientHeight + 1
        && /(auto|scroll)/.test(getComputedStyle(el).overflowY));
      return {y: Math.round(window.scrollY), chat: box ? Math.round(box.scrollTop) : null};
    }""")


def test_phone_citation_opens_a_sheet_and_closing_returns_to_the_same_place(server, browser):
    url, _ = server
    ctx, page, watch = open_page(browser, url, PHONE)
    ask(page, "How many shipping containers has Russia received from North Korea?")
    ask(page, SHARED)
    page.wait_for_timeout(1500)  # the chat's own scroll to its newest message settles first
    marker = last_answer(page).locator(".cite-marker").nth(1)
    marker.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    before = places(page)
    box = marker.bounding_box()
    marker.click()
    sheet = page.locator("#source-viewer.sheet")
    sheet.wait_for()
    page.locator("#source-viewer.sheet mark.cite-quote").wait_for()
    rect = page.evaluate("(() => { const r = document.querySelector('#source-viewer').getBoundingClientRect();"
                         " return [r.top, r.bottom, window.innerHeight]; })()")
    assert 0 <= rect[0] < rect[2] * 0.2 and rect[1] >= rect[2] - 1, f"the sheet covers the screen: {rect}"
    assert places(page) == before, "opening the source does not move the chat"
    quote = page.evaluate("(() => { const q = document.querySelector('#cite-target').getBoundingClientRect();"
                          " return [q.top, q.bottom, window.innerHeight]; })()")
    assert quote[1] > 0 and quote[0] < quote[2], "the highlighted sentence is in view inside the sheet"
    page.screenshot(path=ARTIFACTS / "ui-29-source-sheet-phone.png")
    close_sheet(page)
    assert places(page) == before, "closing returns to the same place in the chat"
    assert marker.bounding_box() == box
    # Escape closes it too
    marker.click()
    sheet.wait_for()
    page.keyboard.press("Escape")
    page.wait_for_selector("#source-viewer.sheet", state="detached")
    assert places(page) == before
    assert no_horizontal_scroll(page)
    assert not watch.errors, watch.errors
    ctx.close()


def hit_size(page, selector: str) -> list[tuple[str, float, float]]:
    """For each visible element: the size of the square around its centre in which a tap lands on it."""
    return page.evaluate("""(sel) => [...document.querySelectorAll(sel)].filter(e => e.getClientRects().length)
      .map(e => { e.scrollIntoView({block: "center", behavior: "instant"});
        const r = e.getBoundingClientRect(), cx = r.left + r.width / 2, cy = r.top + r.height / 2;
        const hits = (dx, dy) => { const t = document.elementFromPoint(cx + dx, cy + dy);
          return t && (t === e || e.contains(t)); };
        let w = 0, h = 0;
        for (let d = 1; d <= 40; d++) { if (hits(-d, 0) && hits(d, 0)) w = 2 * d + 1; else break; }
        for (let d = 1; d <= 40; d++) { if (hits(0, -d) && hits(0, d)) h = 2 * d + 1; else break; }
        return [e.className || e.id, Math.max(w, 1), Math.max(h, 1)]; })""", selector)


@pytest.mark.parametrize("view", VIEWS)
def test_tap_targets_are_at_least_44_px(server, browser, view):
    url, _ = server
    ctx, page, watch = open_page(browser, url, view)
    ask(page, SHARED)
    page.evaluate("document.querySelector('#chat .answer:last-child .cite-marker')?.scrollIntoView({block: 'center'})")
    for selector in (".answer .cite-marker", ".answer .feedback-bar button", ".answer .fb-reject-btn",
                     ".answer > .cards .source-card", "#send", "#new-chat"):
        page.locator(selector).first.scroll_into_view_if_needed()
        sizes = hit_size(page, selector)
        assert sizes, selector
        small = [s for s in sizes if s[1] < 43 or s[2] < 43]
        assert not small, f"{selector}: {small}"
    assert not watch.errors, watch.errors
    ctx.close()


def test_nothing_typed_is_lost_and_the_viewer_follows_the_question(server, browser):
    url, _ = server
    ctx, page, watch = open_page(browser, url, DESKTOP)
    ask(page, "How many shipping containers has Russia received from North Korea?")
    last_answer(page).locator(".cite-marker").first.click()
    page.locator("#source-viewer mark.cite-quote").wait_for()

    # the next question is sent the moment the answer appears: it is asked, not dropped or erased
    second = "Who said that any such meeting will also include discussion of China?"
    page.evaluate("""(q) => {
      const n = document.querySelectorAll('#chat .answer:not(.streaming)').length;
      const box = document.querySelector('#question textarea');
      const obs = new MutationObserver(() => {
        if (document.querySelectorAll('#chat .answer:not(.streaming)').length > n) {
          obs.disconnect();
          box.value = q; box.dispatchEvent(new Event('input', {bubbles: true}));
          document.querySelector('#send').click();
        }
      });
      obs.observe(document.querySelector('#chat'), {subtree: true, childList: true});
    }""", second)
    page.fill("#question textarea", "When was the Sino-North Korea treaty signed?")
    page.click("#send")
    # the new question empties the viewer of the previous answer's passage
    page.wait_for_function("document.querySelector('#source-viewer mark') === null")
    page.wait_for_function("document.querySelectorAll('#chat .user-msg').length === 3", timeout=120_000)
    page.wait_for_function("document.querySelectorAll('#chat .answer:not(.streaming)').length === 3")
    assert page.locator("#chat .user-msg").last.inner_text() == second
    assert "Howell" in last_answer(page).inner_text()

    # a pasted question over the limit is refused with a message, and stays in the box to be shortened
    long_q = "Why did the delegation visit? " * 80  # 2,400 characters
    page.fill("#question textarea", long_q)
    assert page.input_value("#question textarea") == long_q, "the box takes the whole paste"
    page.click("#send")
    page.wait_for_selector("#chat .answer.error")
    error = page.locator("#chat .answer.error").last.inner_text()
    assert "limit" in error.lower() or "2000" in error.replace(",", ""), error
    page.wait_for_function("(q) => document.querySelector('#question textarea').value === q.trim()", arg=long_q)
    assert not watch.errors, watch.errors
    ctx.close()


def test_reader_words_details_toggle_and_one_progress_bar(server, browser):
    url, _ = server
    ctx, page, watch = open_page(browser, url, DESKTOP)
    ask(page, "What is the capital of France?")
    answer = last_answer(page)
    shown = answer.inner_text()
    assert "No sentence in your documents answers this." in shown
    assert not re.search(r"\d\.\d+ < \d|first_token|first_shown|reader:", shown), shown
    details = answer.locator("details.details")
    details.locator("summary").click()
    assert "total" in details.inner_text() and "why:" in details.inner_text()
    ask(page, "How many shipping containers has Russia received from North Korea?")
    last_answer(page).locator(".cite-marker").first.click()
    page.locator("#source-viewer mark.cite-quote").wait_for()
    source = page.inner_text("#source-viewer .doc-source")
    assert "/" not in source and "\\" not in source and source.endswith(".txt"), source

    # feedback: the form empties after a recorded Send
    last_answer(page).locator("button.fb-down").click()
    page.wait_for_function("document.querySelector('#fb-about')?.innerText.includes('Answer 2')")
    page.fill("#fb-expected textarea", "about 10,000")
    page.click("#fb-send")
    page.wait_for_function("document.querySelector('#fb-status')?.innerText.includes('recorded as')")
    page.wait_for_function("document.querySelector('#fb-expected textarea').value === ''")
    assert page.locator("#fb-kind input:checked").count() == 0

    # an evaluation shows one progress bar, not one per output
    page.get_by_role("tab", name="Evaluation").click()
    page.locator("#suite-pick input").fill("smoke")
    page.get_by_role("option", name="smoke.yaml").click()
    page.evaluate("""() => { window.__bars = new Set(); window.__poll = setInterval(() => {
      for (const e of document.querySelectorAll('.progress-level, .progress-bar, .eta-bar, .progress-text'))
        if (e.getClientRects().length) window.__bars.add(e.closest('[id]')?.id || '?'); }, 50); }""")
    page.click("#run-eval")
    page.wait_for_selector("#eval-charts .eval-charts svg", timeout=300_000)
    bars = page.evaluate("[...window.__bars]")
    assert bars == ["eval-charts"], bars
    assert not watch.errors, watch.errors
    ctx.close()


def test_phone_tables_stay_readable(server, browser):
    url, _ = server
    ctx, page, watch = open_page(browser, url, PHONE)
    page.get_by_role("tab", name="Documents").click()
    page.wait_for_selector("#doc-table th")
    heads = page.evaluate("[...document.querySelectorAll('#doc-table th')].filter(t => t.getClientRects().length)"
                          ".map(t => [t.innerText.trim(), t.getBoundingClientRect().width])")
    assert [h for h, _ in heads] == ["Title", "Chunks", "Type", "ID"], heads
    assert all(w >= 40 for _, w in heads), f"every column shows on a phone: {heads}"
    page.get_by_role("tab", name="Evaluation").click()
    page.wait_for_selector("#eval-cases th")
    # headers never break inside a word: one line each, whatever the width
    tall = page.evaluate("""[...document.querySelectorAll('#doc-table th, #eval-cases th, #eval-metrics th')]
      .filter(t => t.getBoundingClientRect().height > 0).flatMap(t => {
        const walk = document.createTreeWalker(t, NodeFilter.SHOW_TEXT), out = [];
        for (let n = walk.nextNode(); n; n = walk.nextNode()) {
          const label = n.textContent.trim();
          if (!/[A-Za-z]/.test(label)) continue;
          const r = document.createRange(); r.selectNodeContents(n);
          out.push([label, new Set([...r.getClientRects()].filter(x => x.width > 0).map(x => Math.round(x.top))).size]);
        }
        return out; })""")
    assert tall and all(1 <= lines <= len(h.split()) for h, lines in tall), tall
    assert no_horizontal_scroll(page), "the tables scroll inside their frame, not the page"
    assert not watch.errors, watch.errors
    ctx.close()


