// Runs as the source viewer's js_on_load (gr.HTML): `element`, `trigger` and `watch` come from Gradio.
// Citation markers and source cards live in the chat (another component), so one delegated listener on
// the document forwards their clicks to this component's "click" event with what was clicked. What a
// marker refers to is in its classes (ref-cite|ref-passage, ref-t<turn>, ref-n<n>, ref-s<sentence>): the
// chat's sanitizer keeps classes but drops data- attributes.
// On a phone (<= 600 px wide) the source opens as a sheet over the chat; closing it (button, Escape)
// puts the page and the chat back exactly where they were (issue 29, item 6).
const PHONE = "(max-width: 600px)";
const viewerBox = () => document.querySelector("#source-viewer");
const chatScroller = () => {
  const chat = document.querySelector("#chat");
  if (!chat) return null;
  return [chat, ...chat.querySelectorAll("*")].find(
    (el) => el.scrollHeight > el.clientHeight + 1 && /(auto|scroll)/.test(getComputedStyle(el).overflowY)) || null;
};

const closeSheet = () => {
  const box = viewerBox();
  const saved = window.__ragSheetReturn;
  if (!box || !box.classList.contains("sheet")) return;
  box.classList.remove("sheet");
  box.parentElement.style.minHeight = "";
  if (saved) {
    window.scrollTo(saved.x, saved.y);
    if (saved.scroller) saved.scroller.scrollTop = saved.top;
    saved.opener?.focus({ preventScroll: true });
  }
  window.__ragSheetReturn = null;
};

const showTarget = (box) => {
  const target = box.querySelector("#cite-target");
  const text = box.querySelector(".doc-text");
  if (target && text) text.scrollTop = target.offsetTop - text.offsetTop - text.clientHeight / 3;
};
const openSheet = () => {
  const box = viewerBox();
  if (!box) return;
  // the viewer leaves the page's flow as a sheet: its column keeps its height, so nothing behind moves
  if (!box.classList.contains("sheet")) box.parentElement.style.minHeight = `${box.parentElement.offsetHeight}px`;
  box.classList.add("sheet");
  showTarget(box);
  box.querySelector(".sheet-close")?.focus({ preventScroll: true });
};

const onRefClick = (event) => {
  if (event.target.closest("#source-viewer .sheet-close")) {
    event.preventDefault();
    closeSheet();
    return;
  }
  const el = event.target.closest(".answer .ref");
  if (!el) return;
  const cls = el.className;
  const kind = /\bref-(cite|passage)\b/.exec(cls);
  const turn = /\bref-t(\d+)\b/.exec(cls);
  const n = /\bref-n(\d+)\b/.exec(cls);
  const sentence = /\bref-s(\d+)\b/.exec(cls);  // the claim the marker sits on
  if (!kind || !turn || !n) return;
  event.preventDefault();
  event.stopPropagation();
  if (window.matchMedia(PHONE).matches) {
    const scroller = chatScroller();
    window.__ragSheetReturn = { x: window.scrollX, y: window.scrollY, scroller, opener: el,
                                top: scroller ? scroller.scrollTop : 0 };
    openSheet();  // at once: the same source clicked again sends no new value
  }
  trigger("click", { kind: kind[1], turn: Number(turn[1]), n: Number(n[1]),
                     sentence: sentence ? Number(sentence[1]) : null });
};
const onKey = (event) => { if (event.key === "Escape") closeSheet(); };
if (window.__ragRefClick) document.removeEventListener("click", window.__ragRefClick, true);
if (window.__ragSheetKey) document.removeEventListener("keydown", window.__ragSheetKey);
window.__ragRefClick = onRefClick;
window.__ragSheetKey = onKey;
document.addEventListener("click", onRefClick, true);
document.addEventListener("keydown", onKey);

// After the server sends a document with a highlighted passage, bring the passage into view: inside the
// sheet on a phone (the page behind stays where it was), elsewhere by scrolling the page to it.
watch("value", () => {
  const box = viewerBox();
  if (box?.classList.contains("sheet")) {
    showTarget(box);
    return;
  }
  element.querySelector("#cite-target")?.scrollIntoView({ block: "center", behavior: "instant" });
});
