"""Two app replicas over one Chroma server, as real processes: `chroma run`, two `python -m ui` (each with its own
empty data directory) and `python -m index` as a writer. All they share goes through the Chroma server.

The tests run in file order over one cluster (a module fixture): upload on A -> cited on B; remove on B -> gone
on A; a CLI write -> seen by both; kill -9 A mid-upload -> B answers and the index verifies; Chroma restarted
-> both replicas answer again without a restart of their own.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from core.settings import PROJECT_ROOT
from tests.chroma_server import ChromaServer, free_port
from tests.ui_process import stop

pytestmark = pytest.mark.slow

QUOKKA = ("The Quokka Preservation Society was founded in 1987 in Perth by Amelia Stonebridge. "
          "Its volunteers count the quokkas on Rottnest Island every April.\n\n"
          "The society publishes a yearly bulletin called The Short Tail.")
Q_QUOKKA = "Who founded the Quokka Preservation Society?"
Q_BUNDLED = "How many shipping containers has Russia received from North Korea?"


def _env(data: Path, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False",
               PYTHONUNBUFFERED="1", RAG_DATA_DIR=str(data), RAG_CHROMA_URL=url)
    return env


class Replica:
    """One `python -m ui` process with its own (initially empty) data directory."""

    def __init__(self, work: Path, name: str, chroma_url: str) -> None:
        self.data, self.log = work / name, work / f"{name}.log"
        self.chroma_url = chroma_url
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def start(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        port = free_port()
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "ui", "--port", str(port), "--generator",
                                          "extractive"], cwd=PROJECT_ROOT, env=_env(self.data, self.chroma_url),
                                         stdout=out, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{port}"

    def wait_ready(self, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"python -m ui exited {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/gradio_api/info", timeout=2).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"python -m ui did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(1)

    def client(self):
        from gradio_client import Client

        return Client(self.url, verbose=False, download_files=False)

    def ask(self, question: str) -> dict:
        chat, _box, answer = self.client().predict(question, api_name="/ask")
        return answer if answer is not None else {"error": str(chat[-1]["content"]), "citations": []}

    def doc_ids(self) -> set[str]:
        table = self.client().predict(api_name="/documents")[0]
        rows = table["data"] if isinstance(table, dict) else table
        return {r[3] for r in rows}

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)


class Cluster:
    def __init__(self, work: Path) -> None:
        self.work = work
        self.chroma = ChromaServer(work / "chroma-server")
        self.a = Replica(work, "replica-a", self.chroma.url)
        self.b = Replica(work, "replica-b", self.chroma.url)

    def index_cli(self, *args: str) -> subprocess.CompletedProcess:
        """The writer: `python -m index ...` with its own data directory, against the same server."""
        return subprocess.run([sys.executable, "-m", "index", *args], cwd=PROJECT_ROOT, capture_output=True,
                              text=True, env=_env(self.work / "writer", self.chroma.url), timeout=600)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("replicas"))
    c.chroma.start()
    try:
        built = c.index_cli("build")
        assert built.returncode == 0, built.stderr[-2000:]
        for r in (c.a, c.b):
            r.start()
        for r in (c.a, c.b):
            r.wait_ready()
        yield c
    finally:
        for r in (c.a, c.b):
            if r.proc is not None and r.proc.poll() is None:
                stop(r.proc)
        c.chroma.stop()


def _cited(answer: dict, doc_id: str) -> bool:
    return not answer["abstained"] and bool(answer["citations"]) and \
        all(x["doc_id"] == doc_id for x in answer["citations"])


def test_upload_on_a_is_answered_with_citations_on_b_within_2_s(cluster, tmp_path):
    from gradio_client import handle_file

    assert not any(cluster.b.data.rglob("manifest.json")), "replica B has no index files of its own"
    doc = tmp_path / "quokka notes.txt"
    doc.write_text(QUOKKA, "utf-8")
    status, *_ = cluster.a.client().predict([handle_file(str(doc))], api_name="/add_documents")
    assert "quokka_notes.txt: added" in status
    uploaded = time.monotonic()
    b = cluster.b.client()
    while "quokka_notes.txt" not in {r[3] for r in b.predict(api_name="/documents")[0]["data"]}:
        assert time.monotonic() - uploaded < 2.0, "replica B did not see the upload within 2 s"
        time.sleep(0.1)
    answer = cluster.b.ask(Q_QUOKKA)
    assert "Amelia Stonebridge" in answer["text"] and _cited(answer, "quokka_notes.txt"), answer


def test_removal_on_b_disappears_from_a(cluster):
    b = cluster.b.client()
    b.predict(api_name="/documents")  # the session's document picker now lists what the index holds
    status, *_ = b.predict("quokka_notes.txt", api_name="/remove_document")
    assert "removed" in status, status
    time.sleep(1.2)  # replicas re-check the shared generation at most once a second
    assert "quokka_notes.txt" not in cluster.a.doc_ids()
    answer = cluster.a.ask(Q_QUOKKA)
    assert all(x["doc_id"] != "quokka_notes.txt" for x in answer["citations"])


def test_a_cli_write_is_seen_by_both_replicas(cluster, tmp_path):
    note = tmp_path / "heron-count.txt"
    note.write_text("Heron count\n\nThe warden of Lake Orla counted 412 grey herons in March.", "utf-8")
    added = cluster.index_cli("add", str(note))
    assert added.returncode == 0, added.stderr[-2000:]
    time.sleep(1.2)
    for r in (cluster.a, cluster.b):
        answer = r.ask("How many grey herons did the warden of Lake Orla count?")
        assert "412" in answer["text"] and _cited(answer, "heron-count.txt"), answer


def test_kill_9_a_mid_upload_b_keeps_answering_and_the_index_verifies(cluster, tmp_path):
    from gradio_client import handle_file

    big = tmp_path / "long-report.txt"
    big.write_text("Long report\n\n" + "".join(f"Section {i}: the survey team logged {i * 3} moorhens near "
                                               f"pond {i}. " for i in range(3000)), "utf-8")
    upload = threading.Thread(target=_quiet, args=(cluster.a.client().predict, [handle_file(str(big))]),
                              kwargs={"api_name": "/add_documents"})
    docs = _docs_collection(cluster.chroma.port)
    before = docs.count()
    upload.start()
    deadline = time.monotonic() + 120
    while docs.count() == before:  # the document record is written first, then its chunks, then the commit
        assert time.monotonic() < deadline and upload.is_alive(), "the upload never reached the store"
        time.sleep(0.01)
    cluster.a.kill9()  # mid-write: its records are in Chroma, uncommitted
    upload.join(60)
    assert "long-report.txt" not in cluster.b.doc_ids(), "the killed write must stay invisible"
    answer = cluster.b.ask(Q_BUNDLED)
    assert "10,000" in answer["text"] and _cited(answer, "elephant-in-the-room.txt"), answer
    verified = cluster.index_cli("verify")
    assert verified.returncode == 0 and "index OK" in verified.stdout, verified.stdout + verified.stderr
    cluster.a.start()  # a fresh process with the same (still empty of index files) data directory
    cluster.a.wait_ready()
    assert "long-report.txt" not in cluster.a.doc_ids()


def _docs_collection(port: int):
    import chromadb

    return chromadb.HttpClient(host="127.0.0.1", port=port).get_collection("chunks-docs")


def _quiet(fn, *args, **kw) -> None:
    with contextlib.suppress(Exception):  # the server is killed under this request
        fn(*args, **kw)


def test_chroma_restart_both_replicas_recover_without_restarting(cluster):
    pids = (cluster.a.proc.pid, cluster.b.proc.pid)
    cluster.chroma.stop()
    down = cluster.b.ask(Q_BUNDLED)
    assert "Chroma store" in down.get("error", "") and "unavailable" in down["error"], down  # clear, no crash
    cluster.chroma.start()
    for r in (cluster.a, cluster.b):
        answer = r.ask(Q_BUNDLED)
        assert "10,000" in answer["text"] and _cited(answer, "elephant-in-the-room.txt"), answer
    assert (cluster.a.proc.pid, cluster.b.proc.pid) == pids and all(
        r.proc.poll() is None for r in (cluster.a, cluster.b))
