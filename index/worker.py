"""Embedding of uploads off the server: one long-lived, low-priority worker process owned by the app.

Embedding is the expensive step of an upload (a 2 MiB text is about 3,200 chunks, minutes of CPU). Run
in the server it took every core at the same priority as the people asking questions, and the ONNX
arena it grew stayed in the server's memory. Here it runs in a separate interpreter
(`python -m index.worker`, started on the first upload, kept warm, stopped with the app) that lowers its
own scheduling priority (nice), so the operating system gives questions the CPU first and uploads the
rest. The server does no embedding work for an upload, it waits on a pipe; the store's write lock is taken
afterwards, only for the commit of the precomputed vectors (index.pipeline -> IndexStore.write).

Each upload gets a time budget for its embedding (`ingest_embed_timeout_s`): past it the worker is
killed (a fresh one starts for the next upload), nothing is written, and the error says what to do.
Requests are served one batch at a time, so two uploads share the worker batch by batch.

A fresh interpreter, not multiprocessing, for the reason index.isolation gives: 'fork' would copy the
server's threads and models, 'spawn' re-imports the server's __main__. Vectors come back as raw float32
bytes after a JSON header; the request is JSON (texts only).
"""

from __future__ import annotations

import atexit
import json
import os
import select
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import IngestError

_ROOT = Path(__file__).resolve().parent.parent
_LEN = struct.Struct("<Q")
NICE = 15  # questions first: at nice 15 the worker gets about 3% of a core that a question wants


def unique(texts: list[str]) -> tuple[list[str], np.ndarray]:
    """The distinct texts in first-seen order, and for each text the index of its distinct copy.

    A hostile file of one repeated character or phrase chunks into the same text over and over; each
    distinct text is embedded once (80 KB of "." is 116 identical chunks: one embedding, not 116)."""
    first: dict[str, int] = {}
    inverse = np.fromiter((first.setdefault(t, len(first)) for t in texts), dtype=np.int64, count=len(texts))
    return list(first), inverse


class EmbedTimeout(IngestError):
    """An upload's embedding ran past its time budget; nothing was written."""


class EmbedWorker:
    """The parent's handle on the worker process. Thread-safe: one request on the pipe at a time."""

    def __init__(self, spec: dict[str, Any], timeout_s: float, nice: int = NICE, idle_s: float = 300.0) -> None:
        self.spec = {**spec, "nice": nice}
        self.timeout_s = timeout_s
        self.idle_s = idle_s  # an idle worker is stopped, so its model and arena do not hold memory for nothing
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._idle: threading.Timer | None = None
        atexit.register(self.close)

    @classmethod
    def from_settings(cls, s: Any) -> EmbedWorker:
        spec = {"backend": s.embed_backend, "model": s.embed_model, "models_dir": str(s.models_dir),
                "batch": s.embed_batch_size, "threads": s.embed_threads,
                "shared_dir": str(s.shared_models_dir) if s.shared_models_dir else ""}
        return cls(spec, s.ingest_embed_timeout_s)

    def deadline(self) -> float:
        """When an upload starting now must have finished embedding (time.monotonic)."""
        return time.monotonic() + self.timeout_s

    def embed(self, texts: list[str], deadline: float) -> np.ndarray:
        """Vectors for `texts`, computed in the worker; EmbedTimeout (worker killed) past `deadline`."""
        with self._lock:  # waiting for another upload's batch counts against this upload's budget
            if self._idle is not None:
                self._idle.cancel()
            try:
                proc = self._start()
                _send(proc, json.dumps({"texts": texts}).encode())
                head = json.loads(_recv(proc, deadline))
                if "error" in head:
                    raise IngestError("upload", f"could not be embedded ({head['error']})",
                                      "Check the server log; the index is unchanged")
                raw = _recv_exact(proc, head["rows"] * head["dim"] * 4, deadline)
            except TimeoutError:
                self._kill()
                raise EmbedTimeout("upload", f"embedding its chunks took longer than the {self.timeout_s:g} s budget "
                                   "per upload (setting ingest_embed_timeout_s); nothing was added",
                                   "Split the file into smaller parts and add them one at a time, or raise "
                                   "RAG_INGEST_EMBED_TIMEOUT_S") from None
            except (OSError, EOFError, ValueError) as e:
                self._kill()
                raise IngestError("upload", f"the embedding worker stopped ({type(e).__name__})",
                                  "Add the file again; the index is unchanged") from None
            self._idle = threading.Timer(self.idle_s, self._release)
            self._idle.daemon = True
            self._idle.start()
        return np.frombuffer(raw, dtype=np.float32).reshape(head["rows"], head["dim"]).copy()

    def _start(self) -> subprocess.Popen:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(_ROOT), os.environ.get("PYTHONPATH", "")]))
        self._proc = subprocess.Popen([sys.executable, "-m", "index.worker"], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, env=env)
        _send(self._proc, json.dumps(self.spec).encode())
        return self._proc

    def _release(self) -> None:
        with self._lock:
            self.close()

    def _kill(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def close(self) -> None:
        """Stop the worker (end of its input: it exits; killed if it does not within 5 s)."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        try:
            proc.stdin.close()  # type: ignore[union-attr]
            proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()


def _send(proc: subprocess.Popen, payload: bytes) -> None:
    assert proc.stdin is not None
    proc.stdin.write(_LEN.pack(len(payload)) + payload)
    proc.stdin.flush()


def _recv(proc: subprocess.Popen, deadline: float) -> bytes:
    (n,) = _LEN.unpack(_recv_exact(proc, _LEN.size, deadline))
    return _recv_exact(proc, n, deadline)


def _recv_exact(proc: subprocess.Popen, n: int, deadline: float) -> bytes:
    """n bytes from the worker's stdout, waiting at most until `deadline` (TimeoutError), EOFError if it died."""
    assert proc.stdout is not None
    fd, parts, got = proc.stdout.fileno(), [], 0
    # poll, not select: select() refuses descriptors >= 1024 (ValueError), which a busy server reaches
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    while got < n:
        left = deadline - time.monotonic()
        if left <= 0 or not poller.poll(left * 1000):
            raise TimeoutError
        part = os.read(fd, min(n - got, 1 << 20))
        if not part:
            raise EOFError
        parts.append(part)
        got += len(part)
    return b"".join(parts)


# --- the worker process ----------------------------------------------------------------------------------
def _read_msg(stream: Any) -> bytes | None:
    head = stream.read(_LEN.size)
    if len(head) < _LEN.size:
        return None
    return stream.read(_LEN.unpack(head)[0])


def _write_msg(out: Any, header: dict, body: bytes = b"") -> None:
    raw = json.dumps(header).encode()
    out.write(_LEN.pack(len(raw)) + raw + body)
    out.flush()


def serve() -> None:
    """Worker main loop: the spec, then requests until the parent closes the pipe."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # a library printing to stdout must not corrupt the replies
    inp = sys.stdin.buffer
    spec = json.loads(_read_msg(inp) or b"{}")
    os.nice(int(spec.get("nice", NICE)))
    from index.embedding_onnx import embedder_for

    shared = Path(spec["shared_dir"]) if spec.get("shared_dir") else None
    emb = embedder_for(spec["backend"], spec["model"], Path(spec["models_dir"]), spec["batch"], spec["threads"],
                       shared)
    embed = getattr(emb, "embed_bulk", emb.embed)
    while (msg := _read_msg(inp)) is not None:
        try:
            vecs = np.ascontiguousarray(embed(json.loads(msg)["texts"]), dtype=np.float32)
        except Exception as e:  # this request's failure, reported to the parent; the worker lives on
            _write_msg(out, {"error": f"{type(e).__name__}: {str(e)[:200]}"})
            continue
        _write_msg(out, {"rows": int(vecs.shape[0]), "dim": int(vecs.shape[1])}, vecs.tobytes())


if __name__ == "__main__":
    serve()
