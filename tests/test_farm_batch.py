"""farm.batch: guest tests batched on xdist workers report exactly as unbatched ones.

Real pytest runs with two local xdist workers, once with `-p farm.batch` and
once without; the JUnit records (times aside) and the outcomes must match,
and the workers must say they used the short path.  Plugins installed on this
machine with per-test hooks (hypothesis, pytest-benchmark) are turned off, as
they are absent on farm nodes; with them on, the short path must be off.
"""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from farm.batch import expand

REPO = Path(__file__).resolve().parent.parent
BUILD = REPO / "images" / "build"
OFF = ["-p", "no:hypothesispytest", "-p", "no:benchmark", "-p", "no:randomly"]


def _pytest(tmp_path: Path, name: str, *args: str) -> tuple[str, list[str]]:
    xml = tmp_path / f"{name}.xml"
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-n", "2", "-rA", f"--junitxml={xml}", *args],
                          cwd=REPO, capture_output=True, text=True)
    text = re.sub(r'(time|timestamp)="[^"]*"', "", xml.read_text())
    cases = sorted(ET.tostring(c).decode() for c in ET.fromstring(text).iter("testcase"))
    return proc.stdout, cases


# suite_crashes has a test that spins until its timeout; suite_demo's tests must never
# meet theirs, even on a loaded machine.
@pytest.mark.parametrize("suite,timeout", [("suite_demo.elf", "60"), ("suite_crashes.elf", "3")])
def test_batched_reports_match_unbatched(tmp_path: Path, sample_suites, suite: str,
                                         timeout: str) -> None:
    path = str(BUILD / suite)
    plain_out, plain = _pytest(tmp_path, "plain", *OFF, path, "--hv-timeout", timeout)
    out, batched = _pytest(tmp_path, "batched", *OFF, "-p", "farm.batch", path,
                           "--hv-timeout", timeout)
    assert batched == plain and plain
    said = re.findall(r"farm: batched dispatch on gw\d: (\d+) guest tests in (\d+) messages",
                      out)
    assert len(said) == 2 and sum(int(n) for n, _ in said) > 0, out
    summary = re.compile(r"^=* ?(\d+ \w+.*) in [0-9.]+s", re.M)
    assert summary.findall(out)[-1].split(" in ")[0] == \
        summary.findall(plain_out)[-1].split(" in ")[0]


def test_foreign_per_test_hooks_turn_it_off(tmp_path: Path, sample_suites) -> None:
    conftest = tmp_path / "conftest.py"
    conftest.write_text("def pytest_runtest_setup(item):\n    pass\n")
    (tmp_path / "s.elf").write_bytes((BUILD / "suite_demo.elf").read_bytes())
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-n", "2", *OFF, "-p", "farm.batch", "s.elf"],
                          cwd=tmp_path, capture_output=True, text=True)
    assert "farm: batched dispatch on gw0: off: per-test hooks of other plugins must run: " \
           "pytest_runtest_setup (conftest)" in proc.stdout, proc.stdout


def test_expand_gives_xdists_events_in_order() -> None:
    call = {"nodeid": "a.elf::t", "location": ["a.elf", 0, "t"], "when": "call",
            "outcome": "failed", "longrepr": "boom", "sections": [("Captured stdout call", "x")],
            "duration": 0.5, "start": 10.0, "stop": 10.5, "hv_manifest": {"path": "m"}}
    events = expand(7, call)
    assert [name for name, _ in events] == ["logstart", "testreport", "testreport",
                                            "testreport", "logfinish",
                                            "runtest_protocol_complete"]
    setup, middle, teardown = (events[k][1]["data"] for k in (1, 2, 3))
    assert middle is call
    assert (setup["when"], setup["outcome"], setup["sections"], setup["stop"]) == \
        ("setup", "passed", [], 10.0)
    assert (teardown["when"], teardown["outcome"], teardown["start"]) == \
        ("teardown", "passed", 10.5)
    assert teardown["sections"] == call["sections"] and "hv_manifest" not in teardown
    assert events[5][1] == {"item_index": 7, "duration": 0.5}
