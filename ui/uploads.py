"""Uploaded files: checked against the limits, then copied into the data directory under a safe name.

A browser (or an API client) chooses the file name, so it is untrusted: only its last path component is
kept, reduced to a conservative character set, and the final path is checked to lie inside uploads_dir.
The same name uploaded again replaces the earlier copy (and so, in the index, the earlier document).
"""

from __future__ import annotations

import re
import shutil
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from index.loading import CONVERT_HINTS, SUPPORTED

MAX_NAME_CHARS = 100


def safe_filename(name: str) -> str:
    """A file name that cannot leave its folder: no separators, no leading dots, no control characters."""
    base = re.split(r"[\\/]", unicodedata.normalize("NFKC", name or ""))[-1]
    stem, dot, ext = base.rpartition(".")
    if not dot:
        stem, ext = base, ""
    stem = re.sub(r"[^\w.-]+", "_", stem, flags=re.ASCII).strip("._-") or "document"
    ext = re.sub(r"[^A-Za-z0-9]+", "", ext).lower()
    stem = stem[: MAX_NAME_CHARS - len(ext) - 1]
    return f"{stem}.{ext}" if ext else stem


def human_bytes(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} bytes"


@dataclass
class Accepted:
    """Files copied into uploads_dir (path -> display name) and per-file refusals."""

    stored: dict[str, str] = field(default_factory=dict)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (name, why and how to fix)


def accept_uploads(paths: list[str], uploads_dir: Path, *, max_bytes: int, already: int, max_files: int) -> Accepted:
    """Check each uploaded temp file against type/size/count limits and copy the good ones into uploads_dir."""
    out = Accepted()
    uploads_dir.mkdir(parents=True, exist_ok=True)
    root = uploads_dir.resolve()
    count = already
    for p in paths:
        src = Path(p)
        shown = src.name
        name = safe_filename(shown)
        ext = Path(name).suffix.lower()
        if ext not in SUPPORTED:
            hint = CONVERT_HINTS.get(ext) or f"Upload one of {', '.join(SUPPORTED)}"  # .doc: save it as .docx
            out.refused.append((shown, f"type {ext or '(none)'} is not supported. {hint}"))
            continue
        try:
            size = src.stat().st_size
        except OSError:
            out.refused.append((shown, "the upload did not arrive; try again"))
            continue
        if size > max_bytes:
            out.refused.append((shown, f"{human_bytes(size)} is over the {human_bytes(max_bytes)} limit; "
                                       "split the file or raise RAG_MAX_UPLOAD_BYTES"))
            continue
        if count >= max_files:
            out.refused.append((shown, f"{max_files} files were uploaded from here in the last hour, the limit; "
                                       "wait, or raise RAG_MAX_UPLOADS_PER_SESSION"))
            continue
        dest = (root / name).resolve()
        if dest.parent != root:  # cannot happen with safe_filename; checked because the name is hostile input
            out.refused.append((shown, "the file name is not allowed; rename the file"))
            continue
        shutil.copyfile(src, dest)
        out.stored[str(dest)] = name
        count += 1
    return out


def upload_path(uploads_dir: Path, source: str) -> Path | None:
    """The stored upload behind a document's source name, when it is one of ours."""
    if not source or Path(source).name != source:
        return None
    root = uploads_dir.resolve()
    p = (root / source).resolve()
    return p if p.parent == root and p.is_file() else None


def sweep_orphan_uploads(uploads_root: Path, indexed: set[tuple[str, str]], default_collection: str, *,
                         min_age_s: float = 600.0) -> list[str]:
    """Delete stored uploads that no indexed document comes from (issue 24, finding 19: a kill -9 between
    the copy and the index commit leaves one). `indexed` holds (collection, source name) pairs; the default
    collection's uploads sit in uploads_root, another collection's in uploads_root/<collection>. Run at
    start-up; files younger than min_age_s are kept, in case a replica sharing the folder is mid-upload.
    Returns the removed names (relative to uploads_root)."""
    import time

    now = time.time()
    if not uploads_root.is_dir():
        return []
    removed = []
    for p in sorted(uploads_root.rglob("*")):
        if p.is_symlink() or not p.is_file():
            continue
        rel = p.relative_to(uploads_root)
        collection = default_collection if len(rel.parts) == 1 else rel.parts[0]
        if now - p.stat().st_mtime < min_age_s:
            continue
        if len(rel.parts) > 2 or (collection, p.name) not in indexed:
            p.unlink(missing_ok=True)
            removed.append(str(rel))
    return removed
