"""`python -m rag feedback list|show ID|export --out suites/feedback.yaml`: read and export reader verdicts.

Exit codes: 0 done, 2 a usage, settings or storage problem (the message says how to fix it).
Printed feedback is a terminal's plain text; control characters are replaced so a stored comment cannot
move the cursor or recolour the terminal.
"""

from __future__ import annotations

import argparse
import json
import sys
import unicodedata
from pathlib import Path
from typing import Any

from core.errors import at_the_edge
from rag.feedback.record import KINDS


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m rag feedback",
                                description="Reader verdicts on answers and citations, and their export as a suite.")
    p.add_argument("--data-dir", help="data directory (default: RAG_DATA_DIR or ./.rag-data)")
    sub = p.add_subparsers(dest="cmd", required=True)
    ls = sub.add_parser("list", help="one line per verdict, oldest first")
    ls.add_argument("--kind", choices=list(KINDS), help="only this kind of verdict")
    ls.add_argument("--json", action="store_true", help="the records as JSON lines")
    show = sub.add_parser("show", help="one verdict with its whole conversation")
    show.add_argument("id")
    ex = sub.add_parser("export", help="write the verdicts as evaluation cases (a suite YAML)")
    ex.add_argument("--out", required=True, help="suite file to write, e.g. suites/feedback.yaml")
    for sp in (ls, show, ex):  # accepted after the command too; SUPPRESS keeps a value given before it
        sp.add_argument("--data-dir", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return p


def plain(text: Any, limit: int | None = None) -> str:
    """Terminal-safe one-liner: control characters (escape sequences) become spaces."""
    t = "".join(" " if unicodedata.category(ch) in ("Cc", "Cf") else ch for ch in str(text or ""))
    t = " ".join(t.split())
    return t if limit is None or len(t) <= limit else t[: limit - 1] + "…"


def store_for(data_dir: str | None):
    from core.settings import load_settings
    from rag.feedback.store import FeedbackStore

    s = load_settings({"data_dir": data_dir})
    return FeedbackStore(s.feedback_dir, max_bytes=s.feedback_max_bytes, keep=s.feedback_keep)


def _list(store, kind: str | None, as_json: bool) -> int:
    records = [r for r in store.records() if kind is None or (r.get("verdict") or {}).get("kind") == kind]
    for r in records:
        if as_json:
            print(json.dumps(r, ensure_ascii=False))
            continue
        v = r.get("verdict") or {}
        extra = f" [{v['marker']}]" if "marker" in v else ""
        extra += f" expected={plain(v['expected'], 40)!s}" if v.get("expected") else ""
        print(f"{r.get('id')}  {plain(r.get('ts'))}  {plain(r.get('user') or '-', 16):<8} {v.get('kind')}{extra}  "
              f"{plain(r.get('question'), 70)}")
    if not as_json:
        print(f"{len(records)} verdict(s) in {store.folder}", file=sys.stderr)
    return 0


def format_record(r: dict[str, Any]) -> str:
    v = r.get("verdict") or {}
    a = r.get("answer") or {}
    lines = [f"{r.get('id')}  {plain(r.get('ts'))}  user {plain(r.get('user') or '-')}",
             f"generator {plain(r.get('generator'))} · index {plain(r.get('index_generation'))} · "
             f"settings {plain(r.get('settings_hash'))} · conversation {plain(r.get('conversation'))} turn {r.get('turn')}",
             "", "conversation:"]
    lines += [f"  {plain(t.get('role'))}: {plain(t.get('content'))}" for t in r.get("history") or []]
    lines += [f"  user: {plain(r.get('question'))}", f"  (standalone query: {plain(r.get('query'))})",
              f"  assistant{' (abstained)' if a.get('abstained') else ''}: {plain(a.get('text'))}"]
    for c in a.get("citations") or []:
        lines.append(f"    [{c.get('marker')}] {plain(c.get('title'))} {plain(c.get('chunk_id'))} "
                     f"chars {c.get('start')}-{c.get('end')}: {plain(c.get('quote') or c.get('text'), 160)}")
    lines += ["", f"verdict: {v.get('kind')} ({KINDS.get(str(v.get('kind')), '?')})"]
    for key in ("marker", "chunk_id", "quote", "expected", "evidence"):
        if v.get(key) not in (None, ""):
            lines.append(f"  {key}: {plain(v[key])}")
    if v.get("pointer"):
        p = v["pointer"]
        lines.append(f"  pointer: {plain(p.get('chunk_id'))} chars {p.get('span')}: {plain(p.get('text'), 160)}")
    if r.get("comment"):
        lines.append(f"comment: {plain(r['comment'])}")
    lines += ["", f"retrieved ({len(r.get('retrieved') or [])}):"]
    lines += [f"  #{p.get('rank')} {plain(p.get('chunk_id'))} chars {p.get('start')}-{p.get('end')}"
              for p in r.get("retrieved") or []]
    return "\n".join(lines)


def _export(store, out: Path) -> int:
    from rag.feedback.export import build_export, write_export

    export = build_export(store.records())
    side = write_export(export, out)
    print(f"{len(export.cases)} case(s) written to {out}" if export.cases
          else f"no verdict makes a case yet: {out} not written")
    for rid, why in export.skipped:
        print(f"  skipped {rid}: {why}")
    if side is not None:
        print(f"\n{len(export.contradictions)} conversation point(s) have contradictory verdicts; no case was "
              f"written for them. Settle them by hand (also in {side}):")
        for c in export.contradictions:
            ids = ", ".join(str(r["id"]) for r in c["records"])
            print(f"  - {plain(c['question'], 80)}\n    {plain('; '.join(c['problems']), 200)}\n    records: {ids}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["feedback"]:
        argv = argv[1:]
    args = build_parser().parse_args(argv)
    return at_the_edge(lambda: _command(args), prefix="feedback")


def _command(args: argparse.Namespace) -> int:
    store = store_for(args.data_dir)
    if args.cmd == "list":
        return _list(store, args.kind, args.json)
    if args.cmd == "show":
        print(format_record(store.get(args.id)))
        return 0
    return _export(store, Path(args.out))
