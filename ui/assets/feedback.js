// Runs as the feedback panel's js_on_load (gr.HTML): `trigger` comes from Gradio. The feedback buttons
// live in the chat (another component), so one delegated listener forwards a click on one to this
// component's "click" event. What a button means is in its classes (fb-up|fb-down|fb-reject|fb-docs,
// fb-t<turn>, fb-n<marker>): the chat's sanitizer keeps classes but drops data- attributes.
const onFeedbackClick = (event) => {
  const el = event.target.closest(".answer .fb");
  if (!el) return;
  const cls = el.className;
  const action = /\bfb-(up|down|reject|docs)\b/.exec(cls);
  const turn = /\bfb-t(\d+)\b/.exec(cls);
  const n = /\bfb-n(\d+)\b/.exec(cls);
  if (!action || !turn) return;
  event.preventDefault();
  event.stopPropagation();
  trigger("click", { action: action[1], turn: Number(turn[1]), n: n ? Number(n[1]) : null });
  // the form opens below the chat: bring it into view (phones) once the server filled it
  setTimeout(() => document.querySelector("#feedback")?.scrollIntoView({ block: "start" }), 300);
};
if (window.__ragFeedbackClick) document.removeEventListener("click", window.__ragFeedbackClick, true);
window.__ragFeedbackClick = onFeedbackClick;
document.addEventListener("click", onFeedbackClick, true);
