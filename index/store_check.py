"""Checking the index: whether the commit, the document records, Chroma's chunks and BM25 agree.

Read-only: it reports problems with how to fix them; `IndexStore.repair` (index.store_commit) removes
orphans, and `python -m index verify` prints the report.
"""

from __future__ import annotations

import time

from index.store_commit import text_sha
from index.store_read import Snapshot, StoreReader


class StoreChecker(StoreReader):
    """The consistency check of IndexStore."""

    grace_s: float

    def verify(self) -> list[str]:
        """Problems found; an empty list means the commit, the documents, Chroma's chunks and BM25 agree."""
        with self._lock:
            self._snap = None
            snap = self._snapshot()
        problems = [f"{d}: its document record is missing from Chroma: re-add the document" for d in snap.missing]
        stored = self.shared.ids("chunks")
        live = set(snap.chunks)
        if live - stored:
            problems.append(f"{len(live - stored)} chunks of the committed generation are missing from Chroma: "
                            "re-add their documents")
        old = self.shared.older_than("chunks", sorted(stored - live), time.time() - self.grace_s)
        if old:
            problems.append(f"{len(old)} Chroma chunks are in no generation (orphans): the next write removes them")
        problems += self._collection_problems(snap, sorted(live & stored))
        if snap.keyword.ids != snap.ordered_ids():
            problems.append(f"BM25 index is stale (generation {snap.manifest.generation})")
        for doc_id, e in snap.manifest.documents.items():
            text = snap.texts[doc_id]
            if text_sha(text) != e.content_hash:
                problems.append(f"{doc_id}: document text does not match its content hash")
            if any(not (0 <= s < t <= len(text)) for s, t in e.spans):
                problems.append(f"{doc_id}: a chunk span lies outside the document")
        return problems

    def _collection_problems(self, snap: Snapshot, ids: list[str]) -> list[str]:
        """A chunk whose Chroma metadata names another collection than its document would be seen from there."""
        wrong = 0
        with self.shared.call() as cols:
            for b in range(0, len(ids), 2000):
                got = cols["chunks"].get(ids=ids[b:b + 2000], include=["metadatas"])
                wrong += sum((meta or {}).get("collection")
                             != snap.manifest.documents[snap.chunks[cid][0]].collection
                             for cid, meta in zip(got["ids"], got["metadatas"], strict=True))
        return [f"{wrong} Chroma chunks are filed under another collection than their document's: rebuild with "
                "`python -m index build --rebuild`"] if wrong else []
