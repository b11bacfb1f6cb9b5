"""farm/warm.py: a warm zygote forks the workers, and its client falls back to a
plain Python whenever the zygote cannot take one.

These run the real zygote here (on the controller's Python, as a node runs it
on its own) on a socket in a temp dir, and real clients against it: shell
commands, execnet gateways and a pytest-xdist run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import execnet
import pytest

import farm.warm

WARM = Path(farm.warm.__file__)
CLIENT = [sys.executable, "-I", "-S", str(WARM)]
ROOT = Path(__file__).resolve().parent.parent

# What a process reports of itself: its parent, whether pytest and hv were
# imported before its code ran, its directory and a variable.
REPORT = ("import os, sys; print(os.getppid(), 'pytest' in sys.modules, 'hv' in sys.modules, "
          "os.getcwd(), os.environ.get('WARM_TEST', '-'))")


class Zygote:
    def __init__(self, base: Path, env: dict[str, str] | None = None) -> None:
        self.base = base
        self.sock = str(base / "w.sock")
        self.log = base / "zygote.log"
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("PYTHON")},
               **(env or {})}
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([sys.executable, str(WARM), "serve", self.sock],
                                         stdout=log, stderr=subprocess.STDOUT, env=env,
                                         cwd=base)
        self.wait_ready()

    def wait_ready(self, count: int = 1) -> None:
        deadline = time.monotonic() + 60
        while self.log.read_text().count("farm-warm: ready") < count:
            assert self.proc.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, self.log.read_text()
            time.sleep(0.05)

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        return {**env, "FARM_WARM_SOCKET": self.sock, **extra}

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture
def zygote(tmp_path: Path):
    z = Zygote(tmp_path)
    yield z
    z.stop()


def _report(env: dict[str, str], cwd: Path, *flags: str) -> list[str]:
    out = subprocess.run([*CLIENT, *flags, "-c", REPORT], env=env, cwd=cwd,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_a_client_is_forked_warm_with_its_own_directory_and_environment(zygote, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    ppid, has_pytest, has_hv, cwd, var = _report(zygote.env(WARM_TEST="yes"), work)
    assert int(ppid) == zygote.proc.pid
    assert has_pytest == "True"
    # hv's own modules are left for the worker to import, so pytest rewrites their asserts.
    assert has_hv == "False"
    assert cwd == str(work) and var == "yes"


def test_stdin_stdout_stderr_and_the_exit_status_are_the_clients(zygote, tmp_path):
    code = ("import sys; data = sys.stdin.read(); print(data.upper(), end=''); "
            "print('to stderr', file=sys.stderr); sys.exit(7)")
    out = subprocess.run([*CLIENT, "-c", code], input="piped in\n", env=zygote.env(),
                         capture_output=True, text=True, timeout=60)
    assert (out.returncode, out.stdout, out.stderr) == (7, "PIPED IN\n", "to stderr\n")
    crash = subprocess.run([*CLIENT, "-c", "raise ValueError('boom')"], env=zygote.env(),
                           capture_output=True, text=True, timeout=60)
    assert crash.returncode == 1
    assert "ValueError: boom" in crash.stderr


def test_without_a_zygote_the_client_runs_python_itself(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["FARM_WARM_SOCKET"] = str(tmp_path / "nothing.sock")
    ppid, has_pytest, _hv, cwd, _var = _report(env, tmp_path)
    assert int(ppid) == os.getpid() and has_pytest == "False" and cwd == str(tmp_path)
    out = subprocess.run([*CLIENT, "-c", "import sys; sys.exit(sys.stdin.read())"],
                         input="3", env=env, capture_output=True, text=True, timeout=60)
    assert out.stderr == "3\n"          # stdin untouched by the failed hand-over


def test_python_variables_it_cannot_honour_refuse_the_fork(zygote, tmp_path):
    ppid, has_pytest, *_ = _report(zygote.env(PYTHONHASHSEED="1"), tmp_path)
    assert int(ppid) == os.getpid() and has_pytest == "False"
    # -u and -B (execnet's popen passes them) it applies.
    check = ("import os, sys; print(os.getppid(), sys.dont_write_bytecode, "
             "sys.stdout.write_through)")
    out = subprocess.run([*CLIENT, "-u", "-B", "-c", check], env=zygote.env(),
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == [str(zygote.proc.pid), "True", "True"], out.stderr


def test_a_change_under_sys_path_restarts_the_zygote(tmp_path):
    extra = tmp_path / "extra"
    extra.mkdir()
    z = Zygote(tmp_path, env={"PYTHONPATH": str(extra)})
    try:
        assert int(_report(z.env(), tmp_path)[0]) == z.proc.pid
        (extra / "newly_installed.py").write_text("")
        time.sleep(0.01)
        ppid, has_pytest, *_ = _report(z.env(), tmp_path)     # refused: runs by itself
        assert int(ppid) == os.getpid() and has_pytest == "False"
        z.wait_ready(2)                                        # the same process, afresh
        assert "sys.path changed; restarting" in z.log.read_text()
        assert int(_report(z.env(), tmp_path)[0]) == z.proc.pid
    finally:
        z.stop()


def test_execnet_gateways_start_through_the_zygote(zygote, monkeypatch):
    for name in list(os.environ):
        if name.startswith("PYTHON"):       # tox sets PYTHONHASHSEED: that one refuses
            monkeypatch.delenv(name)
    monkeypatch.setenv("FARM_WARM_SOCKET", zygote.sock)
    python = " ".join(CLIENT)
    gw = execnet.makegateway(f"popen//python={python}")
    try:
        ch = gw.remote_exec("import os, sys; channel.send((os.getppid(), 'pytest' in sys.modules))")
        assert ch.receive(timeout=60) == (zygote.proc.pid, True)
        ch = gw.remote_exec("channel.send(channel.receive() * 2)")
        ch.send(21)
        assert ch.receive(timeout=60) == 42
    finally:
        gw.exit()


def test_an_xdist_run_through_the_zygote_reads_as_a_normal_one(zygote, tmp_path):
    (tmp_path / "test_some.py").write_text(
        "import os\n\n"
        "def test_forked():\n    assert os.getppid() == int(os.environ['ZYGOTE'])\n\n"
        "def test_rewritten():\n    value = [1, 2]\n    assert value == [1, 3]\n")
    python = " ".join(CLIENT)
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "xdist",
         "--tx", f"2*popen//python={python}", "--dist", "load", "test_some.py"],
        cwd=tmp_path, env=zygote.env(ZYGOTE=str(zygote.proc.pid)), capture_output=True,
        text=True, timeout=300)
    text = out.stdout + out.stderr
    assert "1 failed, 1 passed" in text, text
    # pytest's own assertion rewriting in a forked worker, and no warning about it.
    assert "At index 1 diff: 2 != 3" in text, text
    assert "PytestAssertRewriteWarning" not in text, text
