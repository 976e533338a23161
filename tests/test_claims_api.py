"""One quote per claim through /v1 (issue 29, item 2): when two answer sentences share a marker, the API's
citation carries each claim's own supporting sentence. The real serving command, the openai SDK."""

from __future__ import annotations

import pytest

from tests.test_clients_openai import openai_client, server

__all__ = ["server"]  # the fixture, imported so pytest finds it here
pytestmark = pytest.mark.slow

SHARED = "What is the mutual defense pact?"  # three sentences of one passage carry [1]


def test_a_shared_marker_carries_one_quote_per_claim(server: str, article_library) -> None:
    resp = openai_client(server).chat.completions.create(
        model="cited-answers", messages=[{"role": "user", "content": SHARED}])
    content = resp.choices[0].message.content
    citations = resp.model_extra["citations"]
    shared = next(c for c in citations if len(c["claims"]) >= 2)
    doc = article_library.document(shared["doc_id"]).text
    quotes = []
    for k in shared["claims"]:
        assert doc[k["quote_start"]:k["quote_end"]] == k["quote"]
        assert shared["start"] <= k["quote_start"] < k["quote_end"] <= shared["end"]
        assert k["text"].rstrip(".") in content and k["text"].rstrip(".") in k["quote"], k
        quotes.append(k["quote"])
    assert len(set(quotes)) == len(quotes), "each claim has its own supporting sentence"
    assert shared["quote"] in quotes  # the citation's own quote stays, the best of them
    assert [k["sentence"] for k in shared["claims"]] == sorted({k["sentence"] for k in shared["claims"]})
