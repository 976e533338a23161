"""Limits that hold across sessions (issue 11, finding 5): upload quota per user/address, login rate
limiting, bundled documents marked in the manifest, no absolute paths in the viewer."""

from __future__ import annotations

import shutil
from types import SimpleNamespace

import pytest

from ui.limits import LoginGuard, UploadQuota, WindowCounter, client_key


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_upload_quota_is_per_user_and_survives_new_sessions() -> None:
    clock = FakeClock()
    quota = UploadQuota(3, window_s=60, clock=clock)
    alice = client_key(SimpleNamespace(username="alice", client=SimpleNamespace(host="10.0.0.1")))
    anon = client_key(SimpleNamespace(username=None, client=SimpleNamespace(host="10.0.0.2")))
    assert (alice, anon) == ("user:alice", "addr:10.0.0.2")
    quota.record(alice, 2)
    quota.record(alice, 1)  # a new page load or API call is the same user: the count goes on
    assert quota.used(alice) == 3 and quota.used(anon) == 0
    clock.t += 61
    assert quota.used(alice) == 0  # the window has passed


def test_login_guard_locks_a_name_after_failures_then_recovers() -> None:
    clock = FakeClock()
    guard = LoginGuard([("alice", "s3cret")], max_failures=3, window_s=60, clock=clock)
    assert guard("alice", "s3cret")
    for _ in range(3):
        assert not guard("alice", "guess")
    assert not guard("alice", "s3cret")  # locked even with the right password
    clock.t += 61
    assert guard("alice", "s3cret")


def test_login_guard_address_cap_stops_spraying_many_names() -> None:
    """Issue 24 finding 5: the cap is per address now, so the sprayer is stopped and nobody else is."""
    guard = LoginGuard([("alice", "pw")], max_failures=100, max_address_failures=5, window_s=60, clock=FakeClock())
    for i in range(5):
        guard(f"user{i}", "x", "10.0.0.66")
    assert not guard("alice", "pw", "10.0.0.66")
    assert guard("alice", "pw", "10.0.0.1")


def test_window_counter_keeps_a_bounded_number_of_keys() -> None:
    c = WindowCounter(60, clock=FakeClock(), max_keys=100)
    for i in range(1000):
        c.add(f"k{i}")
    assert len(c._events) <= 101


@pytest.fixture
def corpus_indexer(settings, tmp_path):
    from index.pipeline import Indexer

    return Indexer.from_settings(settings())


def test_bundled_is_marked_in_the_manifest_and_cannot_be_replaced(corpus_indexer, tmp_path, monkeypatch) -> None:
    from core.settings import BUNDLED_CORPUS

    corpus_indexer.build_bundled()
    infos = corpus_indexer.documents()
    assert infos and all(d.bundled for d in infos)
    bundled = infos[0]
    monkeypatch.chdir(tmp_path)  # "bundled" must not depend on the current directory
    assert all(d.bundled for d in corpus_indexer.documents())
    upload = tmp_path / "upload"
    upload.mkdir()
    name = next(p.name for p in BUNDLED_CORPUS.iterdir() if p.is_file())
    (upload / name).write_text("Impostor\n\nThis replaces the bundled article.", "utf-8")
    rep = corpus_indexer.add([upload / name], names={str(upload / name): name})
    assert not rep.added and not rep.replaced
    assert "same name as the bundled document" in str(rep.errors[0])
    assert corpus_indexer.store.document(bundled.doc_id).content_hash == bundled.content_hash


def test_cli_added_documents_never_show_absolute_paths(corpus_indexer, tmp_path) -> None:
    from ui.render import shown_source

    f = tmp_path / "deep" / "notes.txt"
    f.parent.mkdir()
    f.write_text("Notes\n\nThe meeting is on Monday.", "utf-8")
    corpus_indexer.add([f])
    (info,) = [d for d in corpus_indexer.documents() if d.doc_id.startswith("notes")]
    assert info.source == "notes.txt"
    assert not info.bundled
    assert shown_source("/srv/app/secret/notes.txt") == "notes.txt"
    # nor a server folder (issue 29, item 7): the viewer names the file only
    assert shown_source("data/corpus/a.txt") == "a.txt" and shown_source("C:\\srv\\b.md") == "b.md"
    shutil.rmtree(f.parent)
