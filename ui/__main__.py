"""`python -m ui`: build the bundled documents' index if missing, load the models once, then serve the page,
the OpenAI-compatible API (/v1) and the MCP tools (/mcp) on one port.

Errors are translated here, once: a RagError prints its message (which says how to fix it) and exits 2.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from core.errors import RagError, at_the_edge
from core.progress import terminal_progress
from core.settings import GENERATORS


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ui", description="Serve the chat UI (default 127.0.0.1:7860).")
    p.add_argument("--host", help="interface to bind (default 127.0.0.1; 0.0.0.0 exposes it to the network)")
    p.add_argument("--port", type=int, help="port (default 7860)")
    p.add_argument("--data-dir", help="state directory (default: RAG_DATA_DIR or ./.rag-data)")
    p.add_argument("--generator", choices=GENERATORS, help="answer generator")
    p.add_argument("--local-model", help="local GGUF model name (generator local)")
    p.add_argument("--llm-url", help="OpenAI-compatible server base URL (generator openai)")
    p.add_argument("--llm-model", help="model name on that server")
    p.add_argument("--chroma-url", help="use a Chroma server, e.g. http://127.0.0.1:8000 (default: embedded)")
    p.add_argument("--k", type=int, help="passages handed to the generator")
    p.add_argument("--concurrency", type=int, help="answers computed at once (0: chosen from the generator)")
    p.add_argument("--max-queue", type=int, help="requests allowed to wait in the queue")
    p.add_argument("--config", help="optional TOML settings file")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)

    overrides = {
        "host": args.host, "port": args.port, "data_dir": args.data_dir, "generator": args.generator,
        "local_model": args.local_model, "llm_url": args.llm_url, "llm_model": args.llm_model,
        "chroma_url": args.chroma_url, "k": args.k, "concurrency": args.concurrency, "max_queue": args.max_queue,
    }
    progress, close = terminal_progress()

    def serve_app() -> int:
        try:
            _serve(args, overrides, progress, close)
        except RagError:
            close()  # end the progress line before the error is printed
            raise
        return 0

    return at_the_edge(serve_app)


def _serve(args: argparse.Namespace, overrides: dict, progress: Any, close: Any) -> None:
    from core.settings import load_settings

    settings = load_settings(overrides, config_file=args.config)
    from rag.compose import build
    from ui.app import parse_auth
    from ui.server import build_server, check_exposure, serve

    parse_auth(settings.ui_auth)  # a malformed RAG_UI_AUTH fails now, not after the models load
    check_exposure(settings)  # so does an open API on a network interface

    parts = build(settings, progress)
    assistant, library = parts.assistant, parts.library
    if not library.documents():
        print(f"No index in {settings.index_dir}: indexing the bundled documents…", file=sys.stderr)
        report = library.build_bundled(progress=progress)
        close()
        print(f"Index built: {report.summary()}", file=sys.stderr)
        for err in report.errors:
            print(f"  error: {err}", file=sys.stderr)
    print(f"Loading models (generator: {settings.generator})…", file=sys.stderr)
    t0 = time.perf_counter()
    assistant.warm_up()
    close()
    print(f"Models ready in {time.perf_counter() - t0:.1f} s; generator: {assistant.generator_name}",
          file=sys.stderr)
    app = build_server(assistant, library, settings)
    print(f"Serving on http://{settings.host}:{settings.port}"
          f"{' (login required)' if settings.ui_auth else ''}; OpenAI-compatible API at /v1, MCP at /mcp"
          f"{' (API keys required)' if settings.api_keys else ''}", file=sys.stderr)
    serve(app, settings)


if __name__ == "__main__":
    sys.exit(main())
