"""The passages a follow-up that asks for more needs beside the retrieved ones: the chunk holding the last
sentence the conversation showed, and the chunks next to it in its document.

"And then?" after a sentence whose chunk this retrieval did not find would otherwise see nothing after it
and say the documents say nothing more; "did kim say anything else?" needs the rest of kim's thread. The
shown sentence is found by searching for it (it is the document's own text) and checking the hit holds
it; its neighbours come from the store in document order, within the request's collections.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.types import Chunk, FollowUp, Passage

_LOOKUP_K = 3  # hits searched for the shown sentence's chunk
_REACH = 1  # chunks on each side of it
_END_REACH = 6  # "how did it turn out in the end?": the chunks after it, as far as this


def shown_neighbours(retriever, follow_up: FollowUp, passages: Sequence[Passage],
                     collections: tuple[str, ...] | None) -> list[Passage]:
    """`passages` with the shown sentence's chunk and its neighbours appended (those not there already),
    numbered after them; `passages` unchanged when nothing was shown, or the store cannot list chunks."""
    store = getattr(retriever, "store", None)
    last = next((s for s in reversed(follow_up.shown) if len(s.split()) >= 4), "")
    if not follow_up or not last or not hasattr(store, "chunks_of"):
        return list(passages)
    home = _home(retriever, follow_up, last, passages, collections)
    if home is None:
        return list(passages)
    have = {p.chunk.chunk_id for p in passages}
    reach = _END_REACH if follow_up.kind == "end" else _REACH
    extra = [c for c in _near(store.chunks_of(home.doc_id), home, reach) if c.chunk_id not in have]
    return [*passages, *(Passage(c, 0.0, len(passages) + n + 1) for n, c in enumerate(extra))]


def _home(retriever, follow_up: FollowUp, last: str, passages: Sequence[Passage],
          collections: tuple[str, ...] | None) -> Chunk | None:
    """The chunk holding the last shown sentence: among the passages, else found by searching for it."""
    key = FollowUp(shown=(last,))
    hit = next((p.chunk for p in passages if key.found_in(p.chunk.text)), None)
    if hit is None:
        hits = retriever.search(last, _LOOKUP_K, collections).passages
        hit = next((p.chunk for p in hits if key.found_in(p.chunk.text)), None)
    return hit


def _near(chunks: list[Chunk], home: Chunk, reach: int) -> list[Chunk]:
    """The home chunk, the one before it and those up to `reach` after it, in document order."""
    return [c for c in chunks if -1 <= c.ordinal - home.ordinal <= reach]
