"""Ingestion of an uploaded file in a worker process, with a time budget and a memory cap.

Parsing is where hostile input bites: a pathological PDF or HTML page can take minutes of CPU or
gigabytes of memory, and Python code holds the GIL, so inside the server it would freeze every chat.
Here load + clean + chunk (pure CPU text work) run in a fresh interpreter (`python -m index.isolation`):
it inherits no threads, models or open indexes, caps its own address space (RLIMIT_AS) and CPU time
before it reads the file, and the parent kills it when the time budget runs out. The result comes back
as JSON (not pickle: the child has just parsed hostile bytes). One bad file fails alone with a one-line
IngestError; embedding and writing stay in the parent.

A fresh interpreter (about 0.3 s a file) rather than a multiprocessing context: 'fork' would copy the
server's threads and gigabytes of model memory, and 'spawn'/'forkserver' re-import the server's
__main__ (Gradio) in every child.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from core.errors import IngestError
from core.types import Chunk, Document
from index.chunking import ChunkerConfig

_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Isolation:
    """Run prepare + chunk for one file in a capped worker process."""

    timeout_s: float = 120.0
    memory_bytes: int = 2 * 1024**3

    @classmethod
    def from_settings(cls, settings: Any) -> Isolation | None:
        if not settings.ingest_isolation:
            return None
        return cls(timeout_s=settings.ingest_timeout_s, memory_bytes=settings.ingest_memory_mb * 2**20)

    def prepare(self, path: Path, name: str, max_file_bytes: int, chunker: ChunkerConfig,
                max_chars: int | None = None) -> tuple[Document, list[Chunk]]:
        shown = name or str(path)
        request = {"path": str(path), "name": name, "max_file_bytes": max_file_bytes, "size": chunker.size,
                   "max_chars": max_chars,  # the per-document text cap, checked in the worker (issue 24 #12)
                   "overlap": chunker.overlap, "memory_bytes": self.memory_bytes, "cpu_s": int(self.timeout_s) + 1}
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(_ROOT), os.environ.get("PYTHONPATH", "")]))
        try:
            done = subprocess.run([sys.executable, "-m", "index.isolation"], input=json.dumps(request).encode(),
                                  capture_output=True, timeout=self.timeout_s, env=env, check=False)
        except subprocess.TimeoutExpired:  # run() has killed the worker
            raise IngestError(shown, f"took longer than the {self.timeout_s:g} s budget to read",
                              "Split the file or convert it to plain text; or raise RAG_INGEST_TIMEOUT_S") from None
        try:
            result = json.loads(done.stdout.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise IngestError(shown, f"stopped reading it (worker exit code {done.returncode}; over the "
                              f"{self.memory_bytes // 2**20} MiB memory cap or a parser crash)",
                              "Split the file or convert it to plain text") from None
        if result["status"] == "error":
            raise IngestError(result["path"], result["problem"], result["fix"])
        doc = Document(**result["doc"])
        return doc, [Chunk(**{**c, "page_breaks": tuple(c.get("page_breaks", ()))}) for c in result["chunks"]]


def _limit(memory_bytes: int, cpu_s: int) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 5))


def _work(req: dict) -> dict:
    from index.chunking import chunk_document
    from index.prepare import prepare_document

    shown = req["name"] or req["path"]
    try:
        _limit(req["memory_bytes"], req["cpu_s"])
        doc = prepare_document(Path(req["path"]), req["name"], req["max_file_bytes"], req.get("max_chars"))
        chunks = chunk_document(doc, ChunkerConfig(size=req["size"], overlap=req["overlap"]))
        return {"status": "ok", "doc": asdict(doc), "chunks": [asdict(c) for c in chunks]}
    except IngestError as e:
        return {"status": "error", "path": e.path, "problem": e.problem, "fix": e.fix}
    except MemoryError:
        return {"status": "error", "path": shown,
                "problem": f"needs more than the {req['memory_bytes'] // 2**20} MiB memory cap to read",
                "fix": "Split the file or convert it to plain text; or raise RAG_INGEST_MEMORY_MB"}
    except Exception as e:  # a parser bug on hostile input is this file's failure, not the server's
        return {"status": "error", "path": shown, "problem": f"could not be read ({type(e).__name__}: {str(e)[:120]})",
                "fix": "Re-export it, or convert it to plain text"}


if __name__ == "__main__":
    out = _work(json.loads(sys.stdin.buffer.read()))
    sys.stdout.write(json.dumps(out, ensure_ascii=True))
