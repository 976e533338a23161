"""The local model's gate: a chat question waits for at most the one generation already running, however
many evaluation cases queue behind it (issue 11: an evaluation shared the LLM lock and starved chat)."""

from __future__ import annotations

import threading
import time

from core.types import Answer
from rag.eval.runner import run_suites
from rag.eval.suite import Case, Suite
from rag.generate.priority import PriorityGate, background, is_background


def _wait_until(cond, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "condition not reached"
        time.sleep(0.005)


def test_interactive_overtakes_waiting_background_work() -> None:
    gate, order = PriorityGate(), []
    release_first = threading.Event()

    def background_case(name: str, hold: threading.Event | None = None) -> None:
        with background(), gate.hold():
            order.append(name)
            if hold is not None:
                hold.wait(10)

    first = threading.Thread(target=background_case, args=("eval-1", release_first))
    first.start()
    _wait_until(lambda: order == ["eval-1"])
    queued = [threading.Thread(target=background_case, args=(f"eval-{i}",)) for i in (2, 3, 4)]
    for t in queued:
        t.start()
    time.sleep(0.05)  # the evaluation cases are queued on the gate before the chat question arrives

    def chat() -> None:
        with gate.hold():
            order.append("chat")

    user = threading.Thread(target=chat)
    user.start()
    _wait_until(lambda: gate.interactive_waiting == 1)
    release_first.set()
    for t in (first, *queued, user):
        t.join(10)
    assert order[:2] == ["eval-1", "chat"], order  # chat waited for one generation, not the suite
    assert sorted(order[2:]) == ["eval-2", "eval-3", "eval-4"]


def test_gate_is_a_mutex_with_timeout() -> None:
    gate = PriorityGate()
    assert gate.acquire(timeout=1)
    got = []
    t = threading.Thread(target=lambda: got.append(gate.acquire(timeout=0.05)))
    t.start()
    t.join(5)
    assert got == [False]
    gate.release()
    assert gate.acquire(timeout=1)
    gate.release()


class _RecordingAsker:
    """Stands in for the Assistant's ask(); records whether each case ran as background work."""

    def __init__(self) -> None:
        self.flags: list[bool] = []

    def ask(self, question, history=None) -> Answer:
        self.flags.append(is_background())
        return Answer(question=question, text="x", sentences=[], citations=[], retrieved=[], abstained=False,
                      generator="test")


def test_evaluation_cases_run_as_background_work(tmp_path) -> None:
    asker = _RecordingAsker()
    suite = Suite(name="s", cases=tuple(Case(id=str(i), question=f"q{i}", answers=("x",)) for i in range(3)))
    run_suites([suite], asker, tmp_path / "run", show_bar=False)
    assert asker.flags == [True, True, True]
    assert not is_background()  # the mark ends with the run
