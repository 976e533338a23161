"""`python -m rag`: ask, chat, eval, feedback. Project errors are translated here, once (exit code 2).
Training, calibration and the probes are `python -m training` (training/, not installed).

Imports stay inside the commands so `ask` never pays for gradio, and `eval` loads its runner only
when asked for.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap

from core.errors import RagError, at_the_edge
from core.progress import terminal_progress
from core.settings import GENERATORS
from index.pages import page_label
from rag.pipeline import STAGES


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m rag", description="Answer questions about your documents, with checked citations.")
    sub = p.add_subparsers(dest="cmd", required=True)

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--data-dir", help="state directory (default: RAG_DATA_DIR or ./.rag-data)")
        sp.add_argument("--config", help="optional TOML settings file")
        sp.add_argument("--generator", choices=GENERATORS, help="who writes the answer")
        sp.add_argument("--k", type=int, help="passages given to the generator")
        sp.add_argument("--chroma-url", help="use a Chroma server, e.g. http://127.0.0.1:8000")
        sp.add_argument("--collection", action="append", metavar="NAME",
                        help="ask only these document collections: NAME, NAME1,NAME2 or the flag repeated "
                             "(default: RAG_COLLECTION or 'default')")

    a = sub.add_parser("ask", help="answer one question")
    a.add_argument("question")
    a.add_argument("--json", action="store_true", help="print the whole answer object as JSON")
    common(a)
    c = sub.add_parser("chat", help="terminal chat with history (empty line or /quit to leave, /new to reset)")
    common(c)
    sub.add_parser("eval", help="run evaluation suites (see `python -m rag eval --help`)", add_help=False)
    sub.add_parser("feedback", help="reader verdicts: list, show, export as a suite (see `python -m rag feedback --help`)",
                   add_help=False)
    return p


def _settings(args: argparse.Namespace):
    from core.settings import load_settings

    return load_settings(
        {"data_dir": args.data_dir, "generator": args.generator, "k": args.k, "chroma_url": args.chroma_url,
         "collections": ",".join(args.collection) if args.collection else None},
        config_file=args.config,
    )


def _assistant(settings):
    """The assistant, once the chosen collections are known to exist (an unknown one names the choices)."""
    from rag.collections import resolve_collections
    from rag.compose import build

    parts = build(settings, terminal_progress()[0])
    resolve_collections(settings.collection_names, parts.library.collections())
    return parts.assistant


def format_answer(answer, width: int = 100) -> str:
    """The answer, its flags, and the cited passages with title and character span."""
    lines = [answer.text]
    unsupported = answer.unsupported_sentences
    if unsupported:
        lines.append("")
        lines.append("Not supported by the sources:")
        lines.extend(f"  ! {s}" for s in unsupported)
    if answer.notice:
        lines += ["", f"Note: {answer.notice}"]
    if answer.citations:
        lines += ["", "Sources:"]
        for c in answer.citations:
            page = page_label(c.page, c.page_end)
            lines.append(f"[{c.marker}] {c.title}{', ' + page if page else ''} (chars {c.start}-{c.end})")
            lines.append(textwrap.indent(textwrap.fill(" ".join(c.text.split()), width - 4), "    "))
    elif answer.abstained and answer.retrieved:
        lines += ["", "Closest passages:"]
        for p in answer.retrieved[:3]:
            snippet = " ".join(p.chunk.text.split())[:200]
            lines.append(f"  - {p.chunk.title} (chars {p.chunk.start}-{p.chunk.end}): {snippet}...")
    t = answer.timings
    stages = ", ".join(f"{k} {t[k]:.0f} ms" for k in (*STAGES, "total") if k in t)
    lines += ["", f"-- {answer.generator}; {stages}"]
    return "\n".join(lines)


def _ask(args: argparse.Namespace) -> int:
    from rag.pipeline import clean_question

    settings = _settings(args)
    clean_question(args.question, settings.max_question_chars)  # reject bad input before loading models
    assistant = _assistant(settings)
    assistant.warm_up()  # load models first, so the printed stage timings are the answer's own
    answer = assistant.ask(args.question)
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2, default=str))
    else:
        print(format_answer(answer))
    return 0


def _chat(args: argparse.Namespace) -> int:
    from core.types import Final, TextDelta, Turn

    assistant = _assistant(_settings(args))
    print(f"Loading ({assistant.generator_name})...", file=sys.stderr)
    assistant.warm_up()
    print("Ask about your documents. /new starts over, an empty line or /quit leaves.", file=sys.stderr)
    history: list[Turn] = []
    while True:
        try:
            q = input("\nyou> ").strip()
        except EOFError:
            break
        if not q or q == "/quit":
            break
        if q == "/new":
            history = []
            print("(new chat)")
            continue
        try:
            print("assistant> ", end="", flush=True)
            final = None
            for ev in assistant.stream(q, history):
                if isinstance(ev, TextDelta):
                    print(ev.text, end="", flush=True)
                elif isinstance(ev, Final):
                    final = ev.answer
            assert final is not None
            print("\n")
            print(format_answer(final))
            history += [Turn("user", q), Turn("assistant", final.text)]
        except RagError as e:  # one bad question should not end the chat
            print(f"\nerror: {e}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "feedback":
        from rag.feedback.cli import main as feedback_main

        return feedback_main(argv[1:])
    if argv and argv[0] == "eval":
        from rag.eval.cli import main as eval_main

        return at_the_edge(lambda: eval_main(argv[1:]))
    args = _parser().parse_args(argv)
    command = {"ask": _ask, "chat": _chat}[args.cmd]
    return at_the_edge(lambda: command(args))
