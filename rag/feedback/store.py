"""Append-only JSONL of reader verdicts under data_dir/feedback, crash-safe, capped and rotated by size.

Crash safety: each record is one complete line handed to a single os.write() on an O_APPEND descriptor,
then fsync'd. A kill -9 can at worst leave a torn last line (Linux cuts a large write short on a fatal
signal), never an interleaved one. The reader skips a last line that does not parse, and the next append
cuts the torn tail off first, so every newline-terminated line is always one whole record.
Rotation renames files under an exclusive lock: feedback.jsonl -> feedback.1.jsonl -> ... -> dropped.
Text is stored raw; every place that shows it escapes it.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from core.errors import InputError, StorageError

LIVE = "feedback.jsonl"


class FeedbackStore:
    """Reader verdicts in `folder`. Cheap to construct; nothing is touched until the first append/read."""

    def __init__(self, folder: Path, *, max_bytes: int = 5 * 1024 * 1024, keep: int = 4) -> None:
        self.folder = Path(folder)
        self.max_bytes = max_bytes
        self.keep = keep
        self._lock = threading.Lock()  # flock is per open file; this serialises threads of one process

    @property
    def live(self) -> Path:
        return self.folder / LIVE

    def files(self) -> list[Path]:
        """Oldest first: feedback.{keep}.jsonl ... feedback.1.jsonl, feedback.jsonl (those that exist)."""
        rotated = [self.folder / f"feedback.{i}.jsonl" for i in range(self.keep, 0, -1)]
        return [p for p in [*rotated, self.live] if p.is_file()]

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.folder / ".lock", os.O_CREAT | os.O_RDWR, 0o644)
        except OSError as e:
            raise StorageError(f"cannot write feedback to {self.folder} ({e}): check RAG_DATA_DIR permissions") from e
        with self._lock:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # closing releases the flock

    def append(self, record: dict[str, Any]) -> dict[str, Any]:
        """Write one record as one line (O_APPEND, one write, fsync). Returns the record."""
        line = (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
        if len(line) > self.max_bytes:
            raise InputError(f"this feedback record is {len(line)} bytes, over feedback_max_bytes="
                             f"{self.max_bytes}: shorten the comment or raise RAG_FEEDBACK_MAX_BYTES")
        with self._exclusive():
            try:
                if self.live.is_file() and self.live.stat().st_size + len(line) > self.max_bytes:
                    self._rotate()
                fd = os.open(self.live, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
                try:
                    _drop_torn_tail(fd)
                    written = os.write(fd, line)
                    os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError as e:
                raise StorageError(f"cannot write feedback to {self.live} ({e}): free disk space or fix "
                                   "permissions of RAG_DATA_DIR") from e
        if written != len(line):
            raise StorageError(f"short write to {self.live} ({written} of {len(line)} bytes): is the disk full?")
        return record

    def _rotate(self) -> None:
        if self.keep == 0:
            self.live.unlink(missing_ok=True)
            return
        (self.folder / f"feedback.{self.keep}.jsonl").unlink(missing_ok=True)
        for i in range(self.keep - 1, 0, -1):
            src = self.folder / f"feedback.{i}.jsonl"
            if src.is_file():
                os.replace(src, self.folder / f"feedback.{i + 1}.jsonl")
        os.replace(self.live, self.folder / "feedback.1.jsonl")
        dir_fd = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the renames survive a power cut before the next append
        finally:
            os.close(dir_fd)

    def records(self) -> list[dict[str, Any]]:
        """Every stored record, oldest first. Lines that do not parse (a torn write) are skipped."""
        out: list[dict[str, Any]] = []
        for path in self.files():
            out += read_jsonl(path)
        return out

    def get(self, record_id: str) -> dict[str, Any]:
        for r in self.records():
            if r.get("id") == record_id:
                return r
        raise InputError(f"no feedback record {record_id!r}: `python -m rag feedback list` shows the ids")


def _drop_torn_tail(fd: int) -> None:
    """A write cut short by a crash left a partial last line, never acknowledged to its caller: cut it off
    (back to the last newline) so the file stays line-for-line valid JSONL."""
    size = os.fstat(fd).st_size
    if not size or os.pread(fd, 1, size - 1) == b"\n":
        return
    end, block = size, 64 * 1024
    while end > 0:
        start = max(0, end - block)
        i = os.pread(fd, end - start, start).rfind(b"\n")
        if i >= 0:
            os.ftruncate(fd, start + i + 1)
            return
        end = start
    os.ftruncate(fd, 0)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Parse a JSONL file, skipping lines that are not a JSON object (a write torn by a crash)."""
    out = []
    with path.open("rb") as f:
        for raw in f:
            try:
                item = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                continue
            if isinstance(item, dict):
                out.append(item)
    return out
