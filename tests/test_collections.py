"""Collections: a question sees only the collections it names, on both Chroma backends.

Two collections hold documents on the same four topics with the same keywords and different facts (names,
years, counts), and one holds a long "flood" document that outranks everything on one topic. Every
retrieved passage and every citation must come from the chosen collections; the flood must not crowd the
chosen collection's passage out (the filter is in the store's query, not applied after a top n). Real
MiniLM embedder, real Chroma (embedded and a `chroma run` server), extractive generator.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from core.errors import IndexMismatchError, InputError, UnknownCollectionError
from core.settings import load_settings
from rag.collections import resolve_collections
from tests.chroma_server import ChromaServer
from tests.test_ui_browser import browser, server  # noqa: F401  (fixtures of the browser test below)

ROOT = Path(__file__).resolve().parent.parent

TOPICS = {
    "lighthouse": ("The Marrow Point lighthouse stands on the northern cape. Its keeper, {name}, kept the "
                   "lighthouse log for {n} years. The lighthouse lamp was replaced in {year} after a winter "
                   "storm cracked the lens. Visitors climb {m} steps to reach the lighthouse gallery."),
    "orchard": ("The Hollin Vale orchard grows old apple varieties. The orchard manager, {name}, planted {n} "
                "apple trees along the river. The orchard cider press was built in {year}. Each autumn the "
                "orchard harvest fills {m} barrels of apples."),
    "bridge": ("The Calder footbridge crosses the canal near the old mill. The footbridge was designed by the "
               "engineer {name}. It opened to walkers in {year}. The footbridge deck is {n} metres long and "
               "rests on {m} stone piers."),
    "railway": ("The Greyhaven railway branch line carried slate from the quarry. The station master of the "
                "branch line was {name}. The railway line closed in {year}. Its locomotives pulled {n} wagons "
                "of slate a day over {m} viaducts."),
}
FACTS = {
    "alpha": [("Edda Lunn", 23, 1931, 117), ("Mirela Okafor", 340, 1902, 61), ("Jonas Petrakis", 48, 1887, 5),
              ("Ruth Abernathy", 14, 1964, 9)],
    "beta": [("Tomas Reed", 31, 1958, 204), ("Sanjay Kulkarni", 275, 1921, 83), ("Greta Holm", 72, 1913, 7),
             ("Ivo Marsh", 22, 1949, 3)],
}
QUESTIONS = {
    "lighthouse": ["Who kept the Marrow Point lighthouse log?", "In what year was the lighthouse lamp replaced?",
                   "How many steps do visitors climb to reach the lighthouse gallery?"],
    "orchard": ["Who is the manager of the Hollin Vale orchard?", "When was the orchard cider press built?",
                "How many apple trees did the orchard manager plant?"],
    "bridge": ["Which engineer designed the Calder footbridge?", "When did the footbridge open to walkers?",
               "How long is the footbridge deck?"],
    "railway": ["Who was the station master of the Greyhaven branch line?", "When did the railway line close?",
                "How many wagons of slate did the locomotives pull a day?"],
}
SCOPES = [("alpha",), ("beta",), ("alpha", "beta"), ("default",)]
FLOOD = "\n\n".join(f"Storm log entry {i}: the Marrow Point lighthouse keeper recorded wind from the north, and "
                    f"the lighthouse lamp burned all night while {i % 7 + 2} ships passed the cape." for i in range(120))
SHARED = "The harbour notice: the Marrow Point pier is closed for repairs until the spring tide."


def _write_corpus(root: Path) -> dict[str, Path]:
    dirs = {}
    for name, facts in FACTS.items():
        d = root / name
        d.mkdir(parents=True)
        for (topic, template), (person, n, year, m) in zip(TOPICS.items(), facts, strict=True):
            (d / f"{topic}.txt").write_text(template.format(name=person, n=n, year=year, m=m), "utf-8")
        (d / "harbour-notice.txt").write_text(SHARED, "utf-8")  # the same file in both collections
        dirs[name] = d
    (root / "beta" / "storm-log.txt").write_text(FLOOD, "utf-8")
    (root / "default").mkdir()
    (root / "default" / "pier.txt").write_text("The Marrow Point pier was rebuilt in 1990 by the harbour board.", "utf-8")
    dirs["default"] = root / "default"
    return dirs


@pytest.fixture(scope="module", params=["embedded", "server"])
def two_collections(request, tmp_path_factory):
    from rag.compose import build

    root = tmp_path_factory.mktemp(f"collections-{request.param}")
    chroma = None
    if request.param == "server":
        chroma = ChromaServer(root / "chroma")
        chroma.start()
    dirs = _write_corpus(root / "corpus")
    s = load_settings({"data_dir": root / "data", "generator": "extractive",
                       "chroma_url": chroma.url if chroma else ""}, env={})
    parts = build(s)
    for name, d in dirs.items():
        report = parts.library.add([d], collection=name)
        assert not report.errors, report.errors
    parts.assistant.warm_up()
    yield SimpleNamespace(library=parts.library, assistant=parts.assistant, dirs=dirs)
    if chroma:
        chroma.stop()


def _collection_of(library) -> dict[str, str]:
    return {d.doc_id: d.collection for d in library.documents()}


def test_documents_belong_to_their_collection(two_collections) -> None:
    lib = two_collections.library
    owner = _collection_of(lib)
    assert lib.collections() == ["alpha", "beta", "default"]
    assert owner["alpha/lighthouse.txt"] == "alpha" and owner["beta/lighthouse.txt"] == "beta"
    assert owner["beta/storm-log.txt"] == "beta" and owner["pier.txt"] == "default"
    # the same file in two collections is two documents, each with its own chunks
    a, b = lib.document("alpha/harbour-notice.txt"), lib.document("beta/harbour-notice.txt")
    assert a.text == b.text and a.content_hash == b.content_hash
    assert {c.chunk_id for c in lib.store.chunks_of(a.doc_id)}.isdisjoint(c.chunk_id for c in lib.store.chunks_of(b.doc_id))


def test_store_filters_before_ranking(two_collections) -> None:
    """The flood (30+ beta chunks on the lighthouse) fills an unfiltered top n; alpha's passage still comes back."""
    lib = two_collections.library
    store, owner = lib.store, _collection_of(lib)
    q = "Storm log: the Marrow Point lighthouse keeper recorded wind and the lighthouse lamp burned all night"
    vec = np.asarray(lib.embedder.embed([q])[0], dtype=np.float32)
    n = two_collections.assistant.settings.candidates  # the depth the retriever asks each side for
    for search, arg in ((store.dense_search, vec), (store.bm25_search, q)):
        unfiltered = search(arg, n)
        assert {owner[c.doc_id] for c, _ in unfiltered} == {"beta"}, "the scenario needs a crowding collection"
        hits = search(arg, n, ("alpha",))
        assert hits and {owner[c.doc_id] for c, _ in hits} == {"alpha"}
        assert any(c.doc_id == "alpha/lighthouse.txt" for c, _ in hits)
        assert search(arg, 5, ("nothing-here",)) == []


def test_no_passage_or_citation_from_another_collection(two_collections) -> None:
    lib, assistant = two_collections.library, two_collections.assistant
    owner = _collection_of(lib)
    answered = right = 0
    for topic, questions in QUESTIONS.items():
        for q in questions:
            for scope in SCOPES:
                answer = assistant.ask(q, collections=scope)
                seen = {owner[p.chunk.doc_id] for p in answer.retrieved}
                cited = {owner[c.doc_id] for c in answer.citations}
                assert seen <= set(scope) and cited <= set(scope), (q, scope, seen, cited)
                others = [f[0] for name, facts in FACTS.items() if name not in scope for f in facts]
                assert not any(person in answer.text for person in others), (q, scope, answer.text)
                if len(scope) == 1 and scope[0] != "default" and not answer.abstained:
                    answered += 1
                    i = list(TOPICS).index(topic)
                    own = FACTS[scope[0]][i]
                    right += any(str(v) in answer.text for v in own)
    print(f"isolation: {answered} of 24 single-collection questions answered, {right} with their own fact")
    # not a vacuous pass: most single-collection questions are answered, from that collection's facts
    assert answered >= 18 and right >= 0.8 * answered, (answered, right)


def test_same_document_in_two_collections_is_removed_separately(two_collections) -> None:
    lib, assistant = two_collections.library, two_collections.assistant
    q = "Why is the Marrow Point pier closed?"
    before = assistant.ask(q, collections=("alpha",))
    assert any(c.doc_id == "alpha/harbour-notice.txt" for c in before.citations)
    lib.remove("beta/harbour-notice.txt")
    try:
        assert "alpha/harbour-notice.txt" in _collection_of(lib)
        assert all(p.chunk.doc_id != "beta/harbour-notice.txt"
                   for p in assistant.ask(q, collections=("beta",)).retrieved)
        assert any(c.doc_id == "alpha/harbour-notice.txt" for c in assistant.ask(q, collections=("alpha",)).citations)
    finally:  # the module's fixture is shared: put the beta copy back
        assert lib.add([two_collections.dirs["beta"] / "harbour-notice.txt"], collection="beta").added


def test_collection_names_are_checked() -> None:
    assert resolve_collections(None, ["alpha"]) == ("default",)
    assert resolve_collections("alpha, default", ["alpha"]) == ("alpha", "default")
    with pytest.raises(UnknownCollectionError, match="available: alpha, default"):
        resolve_collections(["nope"], ["alpha"])
    with pytest.raises(UnknownCollectionError, match="not valid"):
        resolve_collections("../etc", ["alpha"])


def test_adding_into_several_collections_is_refused(settings, tmp_path) -> None:
    from index.pipeline import Indexer

    f = tmp_path / "a.txt"
    f.write_text("Some text about a pier.", "utf-8")
    with pytest.raises(InputError, match="one collection at a time"):
        Indexer.from_settings(settings()).add([f], collection="a,b")


# ---------------------------------------------------------------- migration from schema 1 (one pile)
def _shared(data_dir: Path):
    from index.shared import SharedState

    return SharedState(data_dir / "index" / "chroma", "", "chunks")


def _strip_chunk_collections(cols: dict) -> None:
    ids = cols["chunks"].get(include=[])["ids"]
    cols["chunks"].update(ids=ids, metadatas=[{"collection": None}] * len(ids))  # None deletes the key
    assert all("collection" not in m for m in cols["chunks"].get(include=["metadatas"])["metadatas"])


def _to_old_records(data_dir: Path) -> int:
    """What the Chroma-truth store wrote before collections: document records whose entry has no collection,
    chunks without it, and a commit of schema 1 (written through the same commit code, whose format is
    unchanged). Returns that commit's generation."""
    from index.shared import new_token

    shared = _shared(data_dir)
    head = shared.head()
    with shared.call() as cols:
        got = cols["docs"].get(include=["metadatas"])
        metas = [{**m, "entry": json.dumps({k: v for k, v in json.loads(m["entry"]).items() if k != "collection"})}
                 for m in got["metadatas"]]
        cols["docs"].update(ids=got["ids"], metadatas=metas)
        _strip_chunk_collections(cols)
    old = shared.claim(head, head.records, {**head.config, "schema_version": 1}, new_token())
    assert old is not None
    shared.advance_hint(old.generation)
    shared.reload()  # this process's cached embedded Chroma must not outlive the other process's writes
    return old.generation


def _to_manifest_layout(data_dir: Path) -> int:
    """What the store before Chroma-truth wrote: manifest.json (schema 1, no collection) + docs/NAME--HASH.txt
    in the data dir, the chunks (without collection) in Chroma, no document or commit collections."""
    from index.manifest import Manifest
    from index.store import IndexStore

    store = IndexStore(data_dir / "index")
    store.open()
    m = store.manifest
    raw = json.loads(Manifest(config={**m.config, "schema_version": 1}, generation=m.generation,
                              documents=m.documents).to_json())
    raw["schema_version"] = 1
    (data_dir / "index" / "docs").mkdir()
    for doc_id, entry in raw["documents"].items():
        del entry["collection"]
        e = m.documents[doc_id]
        (data_dir / "index" / "docs" / e.text_file).write_text(store.document(doc_id).text, "utf-8")
    (data_dir / "index" / "manifest.json").write_text(json.dumps(raw), "utf-8")
    shared = store.shared
    with shared.call() as cols:
        _strip_chunk_collections(cols)
        for role in ("docs", "meta"):
            shared._client.delete_collection(cols[role].name)
    shared.reload()
    return 0


@pytest.mark.parametrize("downgrade", [_to_old_records, _to_manifest_layout], ids=["chroma-records", "manifest"])
def test_schema_1_index_migrates_to_the_default_collection(tmp_path, downgrade) -> None:
    from index.store import IndexStore
    from rag.compose import build

    data = tmp_path / "data"
    env = {"RAG_DATA_DIR": str(data)}
    run = dict(cwd=ROOT, capture_output=True, text=True, env={**_base_env(), **env}, timeout=600)
    done = subprocess.run([sys.executable, "-m", "index", "build"], **run)
    assert done.returncode == 0, done.stderr
    old_generation = downgrade(data)
    listed = subprocess.run([sys.executable, "-m", "index", "list", "--collection", "default"], **run)
    assert listed.returncode == 0, listed.stderr
    assert "elephant-in-the-room.txt\tdefault\t" in listed.stdout
    store = IndexStore(data / "index")
    store.open()
    assert store.manifest.config["schema_version"] == 2
    assert store.manifest.generation == old_generation + 1  # one commit migrated it
    assert {d.collection for d in store.documents()} == {"default"} and store.collections() == ["default"]
    with store._chroma_call() as col:
        metas = col.get(include=["metadatas"])["metadatas"]
    assert metas and all(m["collection"] == "default" and m["doc_id"] and "start" in m for m in metas)
    parts = build(load_settings({"data_dir": data, "generator": "extractive"}, env={}))
    assert parts.library.verify() == []
    answer = parts.assistant.ask("How many shipping containers has Russia received from North Korea?")
    assert not answer.abstained and answer.citations
    # verify catches a chunk filed under another collection in Chroma (it would be seen from there)
    with store._chroma_call() as col:
        col.update(ids=[answer.citations[0].chunk_id], metadatas=[{"collection": "elsewhere"}])
    assert any("1 Chroma chunks are filed under another collection" in p for p in parts.library.verify())


def test_newer_schema_is_refused_with_the_rebuild_command(article_index, tmp_path) -> None:
    import shutil

    from index.pipeline import Indexer
    from index.shared import new_token
    from index.store import IndexStore

    data = tmp_path / "copy"
    shutil.copytree(article_index, data)
    shared = _shared(data)
    head = shared.head()
    assert shared.claim(head, head.records, {**head.config, "schema_version": 99}, new_token()) is not None
    shared.reload()
    with pytest.raises(IndexMismatchError, match=r"schema version 99.*python -m index build --rebuild"):
        Indexer.from_settings(load_settings({"data_dir": data}, env={})).open()
    with pytest.raises(IndexMismatchError, match=r"python -m index build --rebuild"):
        IndexStore(data / "index").open()  # also without the settings to compare


def _base_env() -> dict[str, str]:
    import os

    keep = ("PATH", "HOME", "LANG", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "TMPDIR")
    return {k: os.environ[k] for k in keep if k in os.environ} | {"ANONYMIZED_TELEMETRY": "False",
                                                                   "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


# ---------------------------------------------------------------- the edges: page API, OpenAI API, MCP, runnable
HR = ("The Quokka Preservation Society pays its volunteers a travel allowance of 42 dollars a month. "
      "The society's volunteer coordinator is Amelia Stonebridge.")
HR_Q = "What travel allowance does the Quokka Preservation Society pay its volunteers?"


@pytest.fixture(scope="module")
def served(article_index: Path, tmp_path_factory: pytest.TempPathFactory):
    """The page over a private copy of the article index, as tests/test_ui_api.py serves it."""
    import shutil

    from rag.compose import build
    from tests.chroma_server import free_port
    from ui.app import build_app, launch

    data = tmp_path_factory.mktemp("collections-ui") / "data"
    shutil.copytree(article_index, data)
    s = load_settings({"data_dir": data, "generator": "extractive", "port": free_port()}, env={})
    parts = build(s)
    parts.assistant.warm_up()
    app = build_app(parts.assistant, parts.library, s)
    launch(app, s, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{s.port}", s, parts
    app.close()


def test_page_uploads_into_a_typed_collection_and_asks_within_it(served, tmp_path) -> None:
    from gradio_client import Client, handle_file

    url, s, _ = served
    doc = tmp_path / "quokka-pay.txt"
    doc.write_text(HR, "utf-8")
    c = Client(url, verbose=False, download_files=False)
    status, table, *_ = c.predict([handle_file(str(doc))], "hr-policies", api_name="/add_documents")
    assert "added" in status and [r[-1] for r in table["data"]] == ["hr-policies/quokka-pay.txt"]
    assert (s.uploads_dir / "hr-policies" / "quokka-pay.txt").is_file()
    _, _, inside = c.predict(HR_Q, ["hr-policies"], api_name="/ask")
    assert "42" in inside["text"] and {x["doc_id"] for x in inside["citations"]} == {"hr-policies/quokka-pay.txt"}
    _, _, outside = c.predict(HR_Q, api_name="/ask")  # the default collection: the article only
    assert all(not p["chunk"]["doc_id"].startswith("hr-policies/") for p in outside["retrieved"])
    table = c.predict("default", api_name="/documents")[0]
    assert "hr-policies/quokka-pay.txt" not in [r[-1] for r in table["data"]]
    bad = c.predict([handle_file(str(doc))], "no such/name", api_name="/add_documents")[0]
    assert "not a collection name" in bad


def test_openai_model_names_select_a_collection(served) -> None:
    from fastapi.testclient import TestClient

    from ui.server import build_server

    _, s, parts = served
    if "hr-policies" not in parts.library.collections():
        pytest.skip("needs the upload of test_page_uploads_into_a_typed_collection_and_asks_within_it")
    api = TestClient(build_server(parts.assistant, parts.library, s))  # /v1 as `python -m ui` wires it
    models = api.get("/v1/models").json()["data"]
    assert {"cited-answers", "cited-answers:default", "cited-answers:hr-policies"} <= {m["id"] for m in models}
    body = {"model": "cited-answers:hr-policies", "messages": [{"role": "user", "content": HR_Q}]}
    r = api.post("/v1/chat/completions", json=body).json()
    assert "42" in r["choices"][0]["message"]["content"]
    assert {x["doc_id"] for x in r["citations"]} == {"hr-policies/quokka-pay.txt"}
    r = api.post("/v1/chat/completions", json={**body, "model": "cited-answers:payroll"})
    assert r.status_code == 404 and "hr-policies" in r.json()["error"]["message"]


def test_runnable_and_mcp_take_a_collection(served) -> None:
    import asyncio

    from ui.mcp_tools import build_mcp

    _, _, parts = served
    if "hr-policies" not in parts.library.collections():
        pytest.skip("needs the upload of test_page_uploads_into_a_typed_collection_and_asks_within_it")
    runnable = parts.assistant.as_runnable()
    answer = runnable.invoke({"question": HR_Q, "collection": "hr-policies"})
    assert {c.doc_id for c in answer.citations} == {"hr-policies/quokka-pay.txt"}
    assert all(not c.doc_id.startswith("hr-policies/") for c in runnable.invoke(HR_Q).citations)
    with pytest.raises(UnknownCollectionError, match="available: default, hr-policies"):
        runnable.invoke({"question": HR_Q, "collection": "payroll"})
    mcp = build_mcp(parts.assistant, parts.library)

    async def calls():
        found = await mcp.call_tool("search", {"query": HR_Q, "k": 3, "collection": "hr-policies"})
        listed = await mcp.call_tool("list_documents", {"collection": "hr-policies"})
        return found, listed

    found, listed = asyncio.run(calls())
    passages = found[1]["passages"] if isinstance(found, tuple) else found.structured_content["passages"]
    docs = listed[1] if isinstance(listed, tuple) else listed.structured_content
    assert passages and {p["doc_id"] for p in passages} == {"hr-policies/quokka-pay.txt"}
    assert [d["doc_id"] for d in docs["documents"]] == ["hr-policies/quokka-pay.txt"]
    assert docs["available"] == ["default", "hr-policies"]


def test_command_lines(article_index: Path, tmp_path: Path) -> None:
    """index add/list/remove --collection and rag ask --collection, as real processes."""
    import shutil

    data = tmp_path / "data"
    shutil.copytree(article_index, data)
    doc = tmp_path / "quokka-pay.txt"
    doc.write_text(HR, "utf-8")
    run = dict(cwd=ROOT, capture_output=True, text=True, env=_base_env(), timeout=600)

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", *args, "--data-dir", str(data)], **run)

    assert cli("index", "add", str(doc), "--collection", "hr-policies").returncode == 0
    listed = cli("index", "list", "--collection", "hr-policies")
    assert listed.returncode == 0 and "hr-policies/quokka-pay.txt\thr-policies" in listed.stdout
    assert "elephant" not in listed.stdout
    asked = cli("rag", "ask", HR_Q, "--json", "--generator", "extractive", "--collection", "hr-policies")
    assert asked.returncode == 0, asked.stderr
    assert {c["doc_id"] for c in json.loads(asked.stdout)["citations"]} == {"hr-policies/quokka-pay.txt"}
    unknown = cli("rag", "ask", HR_Q, "--generator", "extractive", "--collection", "hr-policies,payroll")
    assert unknown.returncode == 2 and "'payroll' does not exist; available: default, hr-policies" in unknown.stderr
    removed = cli("index", "remove", "quokka-pay.txt", "--collection", "hr-policies")
    assert removed.returncode == 0 and "removed hr-policies/quokka-pay.txt" in removed.stdout
    assert "hr-policies" not in cli("index", "list").stdout


@pytest.mark.browser
@pytest.mark.slow
def test_browser_collection_selectors(server, browser, tmp_path) -> None:  # noqa: F811
    """Make a new collection in the Documents tab, upload into it, then ask within it and outside it."""
    from tests.test_ui_browser import ARTIFACTS, DESKTOP, ask, last_answer, open_page, upload
    from tests.test_ui_browser_walk import new_collection

    url, data = server
    ctx, page, watch = open_page(browser, url, DESKTOP)
    new_collection(page, "hr-policies")  # the list takes no typed text; "New collection" makes one
    doc = tmp_path / "quokka-pay.txt"
    doc.write_text(HR, "utf-8")
    assert "hr-policies/quokka-pay.txt: added" in upload(page, doc, "quokka-pay.txt: added")
    page.wait_for_function("document.querySelector('#doc-table')?.innerText.includes('hr-policies/quokka-pay.txt')")
    assert "elephant-in-the-room.txt" not in page.inner_text("#doc-table")  # the table shows one collection
    assert (data / "uploads" / "hr-policies" / "quokka-pay.txt").is_file()
    page.screenshot(path=ARTIFACTS / "ui-collections-documents.png", full_page=True)

    page.get_by_role("tab", name="Chat").click()
    # the chat now asks the collection the file went into, beside the one it asked before
    assert page.locator("#chat-collections [title^='Remove ']").count() == 2
    ask(page, HR_Q)
    assert "42" in last_answer(page).inner_text()
    chooser = page.locator("#chat-collections input")
    chooser.click()
    page.get_by_role("option", name="hr-policies").click()  # a second click deselects it
    chooser.press("Escape")
    assert page.locator("#chat-collections [title^='Remove ']").count() == 1  # one chosen: default
    ask(page, HR_Q)  # "default" alone: the quokka document is not there
    assert "42" not in last_answer(page).inner_text()
    chooser.click()
    page.get_by_role("option", name="hr-policies").click()
    page.get_by_role("option", name="default", exact=True).click()
    chooser.press("Escape")
    assert page.locator("#chat-collections [title^='Remove ']").count() == 1  # one chosen: hr-policies
    ask(page, HR_Q)
    answer = last_answer(page)
    assert "42" in answer.inner_text() and "quokka" in answer.locator(":scope > .cards").inner_text().lower()
    page.screenshot(path=ARTIFACTS / "ui-collections-chat.png", full_page=True)
    assert not watch.errors, watch.errors
    ctx.close()
