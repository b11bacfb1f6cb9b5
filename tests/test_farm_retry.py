"""farm.retry: the one poll-until-ready loop, and the waits built on it.

A fake clock stands in for time: sleep() moves it on, so nothing here
really waits, and the tests see exactly when each try happened.
"""

from __future__ import annotations

import pytest

from farm import qemu, retry, snapshot
from farm.errors import FarmError
from farm.retry import NotYet, RetryTimeout


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(retry, "_clock", fake)
    monkeypatch.setattr(retry, "_sleep", fake.sleep)
    return fake


def not_until(clock: Clock, ready_at: float, result="done", why="not up"):
    tries: list[float] = []

    def fn():
        tries.append(clock.now - 1000.0)
        if clock.now - 1000.0 < ready_at:
            raise NotYet(f"{why} at {clock.now - 1000.0:g}")
        return result

    return fn, tries


def test_returns_the_result_once_ready(clock: Clock) -> None:
    fn, tries = not_until(clock, 1.0, result=42)
    assert retry.retry(fn, timeout=10, interval=0.25, what="x") == 42
    assert tries == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert clock.slept == [0.25] * 4


def test_ready_at_once_never_sleeps(clock: Clock) -> None:
    fn, tries = not_until(clock, 0.0)
    assert retry.retry(fn, timeout=5, interval=1, what="x") == "done"
    assert (tries, clock.slept) == ([0.0], [])


def test_timeout_names_what_the_time_and_the_last_reason(clock: Clock) -> None:
    fn, tries = not_until(clock, 100.0, why="connection refused")
    with pytest.raises(RetryTimeout) as caught:
        retry.retry(fn, timeout=2.5, interval=1, what="127.0.0.1:2222: sshd did not answer")
    assert str(caught.value) == ("127.0.0.1:2222: sshd did not answer within 2.5 s "
                                 "(connection refused at 2.5)")
    assert (caught.value.what, caught.value.timeout) == ("127.0.0.1:2222: sshd did not answer",
                                                         2.5)
    assert caught.value.last == "connection refused at 2.5"
    assert isinstance(caught.value, FarmError)        # farm's CLIs print it as one line
    # The last sleep is cut short so the last try is at the deadline, not after it.
    assert tries == [0.0, 1.0, 2.0, 2.5]
    assert clock.slept == [1, 1, 0.5]


def test_zero_timeout_is_one_try(clock: Clock) -> None:
    fn, tries = not_until(clock, 1.0)
    with pytest.raises(RetryTimeout, match=r"^x within 0 s \(not up at 0\)$"):
        retry.retry(fn, timeout=0, interval=1, what="x")
    assert (tries, clock.slept) == ([0.0], [])


def test_a_reasonless_not_yet_still_says_something(clock: Clock) -> None:
    def fn():
        raise NotYet()

    with pytest.raises(RetryTimeout, match=r"^x within 1 s \(not ready\)$"):
        retry.retry(fn, timeout=1, interval=1, what="x")


def test_other_errors_end_the_wait_at_once(clock: Clock) -> None:
    def fn():
        raise FarmError("QEMU exited during boot")

    with pytest.raises(FarmError, match="^QEMU exited during boot$") as caught:
        retry.retry(fn, timeout=60, interval=1, what="x")
    assert not isinstance(caught.value, RetryTimeout)
    assert clock.slept == []


def test_explicit_clock_and_sleep_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retry, "_sleep", lambda s: pytest.fail("the default sleep ran"))
    own = Clock()
    fn, tries = not_until(own, 0.5)
    assert retry.retry(fn, timeout=3, interval=0.5, what="x", clock=own,
                       sleep=own.sleep) == "done"
    assert tries == [0.0, 0.5]


# ---- the waits built on it ----

def test_wait_banner_times_out_with_the_last_reason(clock: Clock, monkeypatch) -> None:
    def refused(address, timeout):
        clock.now += 0.1                     # a connect takes a moment
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(qemu.socket, "create_connection", refused)
    with pytest.raises(FarmError, match=r"^127\.0\.0\.1:4000: sshd did not answer within 5 s "
                                        r"\(Connection refused\)$"):
        qemu.wait_banner("127.0.0.1", 4000, 5)
    assert clock.now - 1000.0 == pytest.approx(5.0, abs=0.11)


def test_wait_banner_stops_when_qemu_exits(clock: Clock) -> None:
    with pytest.raises(FarmError, match="^QEMU exited during boot$"):
        qemu.wait_banner("127.0.0.1", 4000, 5, alive=lambda: False)
    assert clock.slept == []


class FakeQmp:
    """qemu.qmp for one socket: answers query-migrate from a script of statuses."""

    def __init__(self, statuses: list, cont: dict | None = None) -> None:
        self.statuses, self.cont, self.calls = list(statuses), cont or {"return": {}}, []

    def __call__(self, sock, command, timeout=5.0, arguments=None):
        self.calls.append(command)
        if command == "query-migrate":
            status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
            if isinstance(status, Exception):
                raise status
            return {"return": {"status": status}}
        if command == "cont":
            return self.cont
        return {"return": {}}


def test_resume_waits_for_the_load_then_continues(clock: Clock, monkeypatch) -> None:
    fake = FakeQmp([FileNotFoundError(2, "no socket"), "active", "active", "completed"])
    monkeypatch.setattr(qemu, "qmp", fake)
    snapshot.resume("qmp.sock", timeout=10)
    assert fake.calls == ["query-migrate"] * 4 + ["cont"]
    assert clock.slept == [0.02] * 3


@pytest.mark.parametrize("statuses, message", [
    ([FileNotFoundError(2, "no socket")],
     r"^the node snapshot did not load within 3 s \(no QMP socket yet\)$"),
    (["active"], r"^the node snapshot did not load within 3 s \(active\)$"),
    (["failed"], r"^loading the node snapshot failed \(see the QEMU log\)$"),
])
def test_resume_failures(clock: Clock, monkeypatch, statuses: list, message: str) -> None:
    monkeypatch.setattr(qemu, "qmp", FakeQmp(statuses))
    with pytest.raises(FarmError, match=message):
        snapshot.resume("qmp.sock", timeout=3)


def test_resume_stops_when_qemu_exits(clock: Clock, monkeypatch) -> None:
    monkeypatch.setattr(qemu, "qmp", FakeQmp(["active"]))
    with pytest.raises(FarmError, match="^QEMU exited while loading the node snapshot$"):
        snapshot.resume("qmp.sock", timeout=3, alive=lambda: False)


def test_resume_reports_a_refused_cont(clock: Clock, monkeypatch) -> None:
    monkeypatch.setattr(qemu, "qmp", FakeQmp(["completed"], cont={"error": {"desc": "no"}}))
    with pytest.raises(FarmError, match="^resuming the node: no$"):
        snapshot.resume("qmp.sock", timeout=3)


def test_save_waits_for_the_migration(clock: Clock, monkeypatch, tmp_path) -> None:
    fake = FakeQmp(["setup", "active", "completed"])
    monkeypatch.setattr(qemu, "qmp", fake)
    snapshot._save(tmp_path / "qmp.sock", tmp_path / "vmstate")
    assert fake.calls == ["stop", "migrate"] + ["query-migrate"] * 3
    assert clock.slept == [0.05, 0.05]


def test_save_gives_up_after_300_s(clock: Clock, monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(qemu, "qmp", FakeQmp(["active"]))
    with pytest.raises(FarmError, match=r"^saving the node: the migration did not finish "
                                        r"within 300 s \(migration active\)$"):
        snapshot._save(tmp_path / "qmp.sock", tmp_path / "vmstate")
    assert clock.now - 1000.0 == pytest.approx(300.0)


def test_save_reports_a_failed_migration(clock: Clock, monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(qemu, "qmp", FakeQmp(["failed"]))
    with pytest.raises(FarmError, match="^saving the node: migration failed: $"):
        snapshot._save(tmp_path / "qmp.sock", tmp_path / "vmstate")


def test_wait_gone_true_once_the_pid_is_gone(clock: Clock, monkeypatch) -> None:
    alive = iter([True, True, False])
    monkeypatch.setattr(qemu.os, "waitpid", lambda pid, flags: (0, 0))
    monkeypatch.setattr(qemu, "pid_alive", lambda pid: next(alive))
    assert qemu._wait_gone(4242, 5.0) is True
    assert clock.slept == [0.02, 0.02]


def test_wait_gone_false_after_the_grace(clock: Clock, monkeypatch) -> None:
    monkeypatch.setattr(qemu.os, "waitpid", lambda pid, flags: (0, 0))
    monkeypatch.setattr(qemu, "pid_alive", lambda pid: True)
    assert qemu._wait_gone(4242, 1.0) is False
    assert clock.now - 1000.0 == pytest.approx(1.0)


class Conn:
    def __init__(self) -> None:
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


def _node(kind: str, extra: dict | None = None):
    from farm.state import NodeState

    node = NodeState("node-1", kind, "127.0.0.1", 4000, "root", "key")
    node.extra = extra or {}
    return node


def test_first_command_retries_a_booting_node(clock: Clock) -> None:
    from farm import nodes

    answers = iter([FarmError("Authentication failed"), FarmError("Authentication failed"),
                    None])

    def first():
        if (err := next(answers)) is not None:
            raise err

    conn = Conn()
    nodes._first_command(conn, _node("qemu"), first)
    assert (conn.closed, clock.slept) == (2, [1, 1])


@pytest.mark.parametrize("kind, extra, tries, interval", [
    ("qemu", {}, 31, 1), ("qemu", {"snapshot": "x"}, 151, 0.2), ("ssh", {}, 1, None)])
def test_first_command_gives_up_with_the_last_error(clock: Clock, kind, extra, tries,
                                                    interval) -> None:
    from farm import nodes

    calls = []

    def first():
        calls.append(clock.now)
        raise FarmError(f"refused {len(calls)}")

    node = _node(kind, extra)
    with pytest.raises(FarmError, match=rf"^ssh root@{node.address}: refused {tries}$"):
        nodes._first_command(Conn(), node, first)
    assert len(calls) == tries           # 30 s of tries for a QEMU node, one for a host
    assert all(s == pytest.approx(interval) for s in clock.slept)
