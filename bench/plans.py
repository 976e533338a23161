"""Plan latency on a big document (issue 26): summaries of the article and of a 300-page PDF, lists over the PDF.

Builds a 300-page PDF from SQuAD dev paragraphs (varied text: ../shared/data; the article's own paragraphs
when SQuAD is not there), indexes it once beside the bundled documents in a temporary data directory, then
asks each question a few times and prints p50/p95 with the machine's load. A benchmark, not a test:

    python -m bench.plans [--pages 300] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import textwrap
import time
from pathlib import Path

from bench.corpus import Sources
from bench.retrieval import summarize
from core.settings import load_settings
from tests.pdf_builder import pdf_pages

LINES_PER_PAGE, WIDTH = 42, 90
QUESTIONS = {
    "summary, article": "Summarize the Putin-Kim piece.",
    "summary, 300-page PDF": "Summarize the field handbook.",
    "list (places), 300-page PDF": "Which countries are mentioned in the field handbook?",
    "list (people), 300-page PDF": "Which people are quoted in the field handbook?",
}


def build_pdf(path: Path, pages: int) -> int:
    """A `pages`-page PDF of varied paragraphs; returns its character count."""
    src = Sources.load(use_squad=True)
    paras = src.squad_paragraphs or src.article_paragraphs
    lines = ["Field Handbook of Collected Readings"]
    i = 0
    while len(lines) < pages * LINES_PER_PAGE:
        text = paras[i % len(paras)].encode("latin-1", "replace").decode("latin-1")
        lines += [*textwrap.wrap(text, WIDTH), ""]
        i += 1
    lines = lines[: pages * LINES_PER_PAGE]
    path.write_bytes(pdf_pages([lines[p * LINES_PER_PAGE:(p + 1) * LINES_PER_PAGE] for p in range(pages)]))
    return sum(len(x) + 1 for x in lines)


def timed(assistant, question: str, repeat: int) -> dict:
    ms, plan = [], ""
    for _ in range(repeat):
        t = time.perf_counter()
        answer = assistant.ask(question)
        ms.append((time.perf_counter() - t) * 1000)
        plan = f"{answer.plan}, {len(answer.citations)} citations{', abstained' if answer.abstained else ''}"
    return {**summarize(ms), "plan": plan}


def main(argv: list[str] | None = None) -> None:
    from index.pipeline import Indexer
    from rag import Assistant

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-plans-") as tmp:
        pdf = Path(tmp) / "field-handbook.pdf"
        chars = build_pdf(pdf, args.pages)
        settings = load_settings({"data_dir": Path(tmp) / "data", "generator": "extractive"}, env={})
        t = time.perf_counter()
        library = Indexer.from_settings(settings)
        library.build_bundled()
        library.add([pdf])
        print(f"indexed {args.pages} pages ({chars:,} chars) + bundled in {time.perf_counter() - t:.0f} s, "
              f"load {os.getloadavg()[0]:.2f}")
        assistant = Assistant.from_settings(settings)
        assistant.warm_up()
        for name, q in QUESTIONS.items():
            r = timed(assistant, q, args.repeat)
            print(f"{name:30s} p50 {r['p50_ms']:7.0f} ms  p95 {r['p95_ms']:7.0f} ms  ({r['plan']})  "
                  f"load {os.getloadavg()[0]:.2f}  [{q}]")


if __name__ == "__main__":
    main()
