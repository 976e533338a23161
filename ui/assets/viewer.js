// Runs as the source viewer's js_on_load (gr.HTML): `element`, `trigger` and `watch` come from Gradio.
// Citation markers and source cards live in the chat (another component), so one delegated listener on
// the document forwards their clicks to this component's "click" event with what was clicked. What a
// marker refers to is in its classes (ref-cite|ref-passage, ref-t<turn>, ref-n<n>): the chat's
// sanitizer keeps classes but drops data- attributes.
const onRefClick = (event) => {
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
  trigger("click", { kind: kind[1], turn: Number(turn[1]), n: Number(n[1]),
                     sentence: sentence ? Number(sentence[1]) : null });
};
if (window.__ragRefClick) document.removeEventListener("click", window.__ragRefClick, true);
window.__ragRefClick = onRefClick;
document.addEventListener("click", onRefClick, true);

// After the server sends a document with a highlighted passage, bring the passage into view.
watch("value", () => {
  const target = element.querySelector("#cite-target");
  if (target) target.scrollIntoView({ block: "center", behavior: "instant" });
});
