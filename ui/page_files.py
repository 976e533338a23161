"""The page's own files: Gradio's upload/cache folder and the download folder, both bounded and cleaned.

- The served page keeps Gradio's uploads and cached copies in `<RAG_DATA_DIR>/page-files` (GRADIO_TEMP_DIR),
  not in the shared temp folder. Nothing there outlives the process that made it: start-up empties it
  (a kill -9 during an upload leaves a half-written temp file behind; finding 19), and files older than
  RAG_PAGE_FILES_TTL_S are deleted while serving (finding 13).
- POST /gradio_api/upload is capped per user/address per hour (RAG_UPLOAD_BYTES_PER_HOUR) and for the
  folder as a whole (RAG_PAGE_FILES_MAX_BYTES), before the body is read: the request must declare its
  Content-Length.
- Chat exports and evaluation downloads go to `<RAG_DATA_DIR>/downloads/<random>/`, deleted after
  RAG_EXPORT_TTL_S or beyond the newest RAG_EXPORT_KEEP (finding 15).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

from ui.limits import WindowCounter

UPLOAD_ROUTE = "/gradio_api/upload"
SWEEP_EVERY_S = 10.0


def empty_folder(folder: Path) -> int:
    """Delete everything inside `folder` (kept, created if missing). Returns the number of entries removed."""
    folder.mkdir(parents=True, exist_ok=True)
    removed = 0
    for entry in list(folder.iterdir()):
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed += 1
    return removed


def _files(folder: Path) -> list[tuple[Path, os.stat_result]]:
    out = []
    for root, _dirs, names in os.walk(folder):
        for name in names:
            p = Path(root) / name
            try:
                out.append((p, p.lstat()))
            except OSError:
                continue  # deleted meanwhile
    return out


def _drop_empty_dirs(folder: Path) -> None:
    for root, _dirs, _names in sorted(os.walk(folder), key=lambda t: -len(t[0])):
        if Path(root) != folder:
            with contextlib.suppress(OSError):  # not empty, or gone
                os.rmdir(root)


def sweep(folder: Path, *, max_age_s: float, keep: int | None = None, now: float | None = None,
          register: set | None = None) -> int:
    """Delete files older than max_age_s (by modification time), then all but the newest `keep`; forget
    them in `register` (Gradio's set of uploaded paths). Returns the number deleted."""
    if not folder.is_dir():
        return 0
    now = time.time() if now is None else now
    files = sorted(_files(folder), key=lambda f: f[1].st_mtime, reverse=True)
    doomed = [p for i, (p, st) in enumerate(files) if now - st.st_mtime > max_age_s or (keep is not None and i >= keep)]
    for p in doomed:
        p.unlink(missing_ok=True)
        if register is not None:
            register.discard(str(p))
    _drop_empty_dirs(folder)
    return len(doomed)


def folder_bytes(folder: Path) -> int:
    return sum(st.st_size for _, st in _files(folder)) if folder.is_dir() else 0


def new_download_dir(root: Path, *, max_age_s: float, keep: int) -> Path:
    """A fresh unguessable folder for one download; older downloads beyond the limits are deleted first."""
    sweep(root, max_age_s=max_age_s, keep=max(keep - 1, 0))
    folder = root / secrets.token_urlsafe(16)
    folder.mkdir(parents=True)
    return folder


class UploadLimit:
    """ASGI middleware in front of Gradio's upload route: per user/address bytes per hour and a total for
    the page folder, checked from Content-Length before the body is read; stale files swept first."""

    def __init__(self, app: Any, *, folder: Path, per_user_bytes: int, total_bytes: int, ttl_s: float,
                 key_of: Callable[[dict], str], register: Callable[[], Collection[Any] | None] = lambda: None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.app, self.folder, self.key_of, self.register = app, folder, key_of, register
        self.per_user_bytes, self.total_bytes, self.ttl_s = per_user_bytes, total_bytes, ttl_s
        self.used = WindowCounter(3600.0, clock=clock)
        self._lock = threading.Lock()
        self._clock = clock
        self._next_sweep = 0.0  # the folder is walked at most every SWEEP_EVERY_S; admitted bytes add up between
        self._bytes = 0

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        path = scope.get("path", "").rstrip("/") if scope["type"] == "http" else ""
        if scope.get("method") != "POST" or not path.endswith(UPLOAD_ROUTE):
            await self.app(scope, receive, send)
            return
        problem = self.admit(scope) if self.key_of(scope) else None  # "": not logged in, Gradio refuses it
        if problem:
            status, message = problem
            body = json.dumps({"detail": message}).encode()
            await send({"type": "http.response.start", "status": status,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)

    def admit(self, scope: dict) -> tuple[int, str] | None:
        """None to let the upload through (and count it), else (status, message that says what to do)."""
        raw = dict(scope.get("headers") or []).get(b"content-length", b"")
        if not raw.isdigit():
            return 411, "uploads must declare their size: send a Content-Length header"
        size = int(raw)
        key = self.key_of(scope)
        with self._lock:
            if self.used.count(key) + size > self.per_user_bytes:
                return 413, (f"you have uploaded {self.used.count(key) // 1024 // 1024} MiB in the last hour; "
                             f"this upload would pass the per-user limit (RAG_UPLOAD_BYTES_PER_HOUR="
                             f"{self.per_user_bytes}): wait, or ask the operator to raise it")
            if self._clock() >= self._next_sweep:
                known = self.register()
                sweep(self.folder, max_age_s=self.ttl_s, register=known if isinstance(known, set) else None)
                self._bytes, self._next_sweep = folder_bytes(self.folder), self._clock() + SWEEP_EVERY_S
            if self._bytes + size > self.total_bytes:
                return 507, ("the server's upload space is full (RAG_PAGE_FILES_MAX_BYTES): try again later, or "
                             "ask the operator to raise it")
            self.used.add(key, size)
            self._bytes += size
        return None


class Downloads:
    """Where the page's downloads (chat exports, evaluation results) are written: one unguessable folder
    each under `root`, which is the page's only allowed path; old ones go (RAG_EXPORT_TTL_S, RAG_EXPORT_KEEP)."""

    def __init__(self, root: Path, *, max_age_s: float = 3600.0, keep: int = 200) -> None:
        self.root, self.max_age_s, self.keep = root, max_age_s, keep
        self._lock = threading.Lock()

    def write(self, name: str, text: str) -> Path:
        """`text` as `name` in a fresh folder (made and filled under the lock: a sweep drops empty folders)."""
        with self._lock:
            path = new_download_dir(self.root, max_age_s=self.max_age_s, keep=self.keep) / name
            path.write_text(text, "utf-8")
            return path

    def publish(self, files: list[Path]) -> list[str]:
        """Copies of `files` in one fresh folder (the run folder itself stays private)."""
        with self._lock:
            folder = new_download_dir(self.root, max_age_s=self.max_age_s, keep=self.keep - len(files) + 1)
            return [str(shutil.copy2(f, folder / f.name)) for f in files if f.is_file()]
