"""Failed guest tests' manifests travel back from the nodes; `farm replay` reruns them here.

No QEMU: a real pytest-xdist session whose one worker (a popen gateway with
HV_NODE=node-7) runs in its own directory, a copy of the controller's, as a
farm node runs in its work directory.  That directory is deleted after the
run, as a node's files are out of reach after it: everything `farm replay`
needs must have come back with the reports.  The last test is the same
through `farm run --local`.  tests/test_farm_e2e.py does it on real nodes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from farm.errors import FarmError
from farm.manifests import relocate
from farm.replay import find_case, find_junit, find_manifest
from farm.report import Case, read_junit, write_html
from farm.run import NODE_MANIFESTS

REPO = Path(__file__).resolve().parent.parent
CRASH = "images/suite_crashes.elf::divide_by_zero"          # killed: unhandled #DE
ASSERT = "images/suite_demo.elf::ring_accepts_any_capacity"   # an HV_ASSERT (with --runxfail)
PASSES = "images/suite_demo.elf::fmt_decimal_basics"
SELECT = "divide_by_zero or ring_accepts_any_capacity or fmt_decimal_basics"

DRIVER = """\
import sys
from pathlib import Path
import pytest
from farm.manifests import ManifestKeeper
from farm.run import FarmPlugin
from farm.state import RunDir

run = RunDir("run"); run.ensure()
junit = (run.path / "junit.xml").resolve()
keeper = ManifestKeeper((run.path / "manifests").resolve(), Path.cwd(), junit)
code = pytest.main(["images/suite_crashes.elf", "images/suite_demo.elf", "--runxfail",
                    "-k", {select!r}, "-p", "xdist", "--dist", "load",
                    "--tx", "popen//chdir={node}//env:HV_NODE=node-7", "--rootdir=.",
                    f"--junitxml={{junit}}", {own!r}, "-p", "no:benchmark",
                    "-p", "no:cacheprovider",
                    "-W", "ignore::pytest.PytestAssertRewriteWarning"],
                   plugins=[FarmPlugin(run, {{}}), keeper])
sys.exit(int(code))
"""


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("HV_NODE", "PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def _tree(where: Path, build: Path) -> Path:
    (where / "images").mkdir(parents=True)
    for name in ("suite_crashes.elf", "suite_demo.elf"):
        shutil.copyfile(build / name, where / "images" / name)
    return where


def _drive(base: Path, build: Path, select: str, own: str) -> dict:
    """The session; `own` is the workers' --hv-manifests option."""
    here, node = _tree(base / "here", build), _tree(base / "node", build)
    (here / "drive.py").write_text(DRIVER.format(select=select, node=node, own=own))
    proc = subprocess.run([sys.executable, "drive.py"], cwd=here, env=_env(), text=True,
                          capture_output=True, timeout=300)
    on_node = sorted(p.relative_to(node) for p in node.rglob("*.json"))
    shutil.rmtree(node)                 # the node's own copies are out of reach now
    return {"here": here, "node": node, "out": proc.stdout + proc.stderr, "on_node": on_node,
            "code": proc.returncode, "junit": here / "run" / "junit.xml"}


@pytest.fixture(scope="module")
def farm_run(sample_suites: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    # The workers' option as farm run gives it to nodes.
    return _drive(tmp_path_factory.mktemp("farm-replay"), sample_suites, SELECT,
                  f"--hv-manifests={NODE_MANIFESTS}")


def _farm(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "farm", *args], cwd=cwd, env=_env(),
                          text=True, capture_output=True, timeout=300)


def _properties(junit: Path) -> dict[str, dict[str, str]]:
    found = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        nodeid = f"{case.get('classname').replace('.', '/').replace('/elf', '.elf')}::" \
                 f"{case.get('name')}"
        found[nodeid] = {p.get("name"): p.get("value") for p in case.iter("property")}
    return found


# ---- the transport ----

def test_failed_tests_manifests_come_back_into_the_run_directory(farm_run: dict) -> None:
    assert farm_run["code"] == 1, farm_run["out"]
    manifests = farm_run["here"] / "run" / "manifests"
    assert sorted(p.name for p in manifests.iterdir()) == [
        "images_suite_crashes.elf_divide_by_zero.json",
        "images_suite_demo.elf_ring_accepts_any_capacity.json"]
    properties = _properties(farm_run["junit"])
    assert properties[PASSES] == {"node": "node-7"}
    for nodeid in (CRASH, ASSERT):
        path = manifests / (nodeid.replace("/", "_").replace("::", "_") + ".json")
        assert properties[nodeid] == {"node": "node-7", "hv_manifest": str(path),
                                      "hv_replay": f"hv replay {path}"}


def test_the_node_writes_its_own_copies_in_its_work_directory(farm_run: dict) -> None:
    assert farm_run["on_node"] == [
        Path(NODE_MANIFESTS, "images_suite_crashes.elf_divide_by_zero.json"),
        Path(NODE_MANIFESTS, "images_suite_demo.elf_ring_accepts_any_capacity.json")]


def test_a_manifest_the_node_could_not_write_still_comes_back(sample_suites: Path,
                                                              tmp_path: Path) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file, so no directory can be made under it")
    run = _drive(tmp_path, sample_suites, "divide_by_zero", f"--hv-manifests={blocked}/m")
    assert run["code"] == 1, run["out"]
    kept = run["here"] / "run" / "manifests" / "images_suite_crashes.elf_divide_by_zero.json"
    assert json.loads(kept.read_text())["origin"]["nodeid"] == CRASH
    assert f"replay: hv replay {kept}\n" in run["out"]
    assert "could not be written" not in run["out"]
    assert _properties(run["junit"])[CRASH] == {"node": "node-7", "hv_manifest": str(kept),
                                                "hv_replay": f"hv replay {kept}"}


def test_the_kept_manifest_names_the_controllers_files(farm_run: dict) -> None:
    path = farm_run["here"] / "run" / "manifests" / "images_suite_crashes.elf_divide_by_zero.json"
    recorded = json.loads(path.read_text())
    assert recorded["origin"] == {"tool": "pytest", "nodeid": CRASH, "node": "node-7",
                                  "rootdir": str(farm_run["here"]),
                                  "moved_from": str(farm_run["node"])}
    image = farm_run["here"] / "images" / "suite_crashes.elf"
    assert recorded["image"] == {"path": str(image),
                                 "sha256": hashlib.sha256(image.read_bytes()).hexdigest()}
    assert recorded["result"]["reason"].startswith("unhandled #DE at eip=")
    assert recorded["result"]["instructions"] > 0


def test_the_failure_text_and_summary_name_the_controllers_manifest(farm_run: dict) -> None:
    out, junit = farm_run["out"], farm_run["junit"]
    kept = farm_run["here"] / "run" / "manifests"
    assert f"replay: hv replay {kept}/images_suite_crashes.elf_divide_by_zero.json\n" in out
    assert f"gdb: hv replay --gdb 127.0.0.1:1234 {kept}/" in out
    assert str(farm_run["node"]) not in out          # nothing points at the node's copies
    assert f"farm replay {junit} {CRASH}\n" in out
    assert f"farm replay {junit} {ASSERT}\n" in out
    (case,) = [c for c in read_junit(junit) if c.nodeid == CRASH]
    assert f"hv replay {kept}/images_suite_crashes.elf_divide_by_zero.json" in case.details


def test_relocate_moves_only_paths_under_the_old_rootdir() -> None:
    record = {"image": {"path": "/node/work/images/a.elf", "sha256": "ab"},
              "modules": [{"path": "/node/work/m.bin"}, {"path": "/elsewhere/n.bin"}],
              "devices": [{"kind": "block", "path": "/node/work/disk.img"},
                          {"kind": "python", "name": "x"}],
              "serial_input": {"path": None, "length": 0}, "serial": None,
              "debugcon": {"path": "/node/work-other/d.out"},
              "origin": {"tool": "pytest", "nodeid": "a", "rootdir": "/node/work"}}
    moved = relocate(record, "/here")
    assert moved["image"] == {"path": "/here/images/a.elf", "sha256": "ab"}
    assert [m["path"] for m in moved["modules"]] == ["/here/m.bin", "/elsewhere/n.bin"]
    assert moved["devices"] == [{"kind": "block", "path": "/here/disk.img"},
                                {"kind": "python", "name": "x"}]
    assert moved["debugcon"] == {"path": "/node/work-other/d.out"}   # not under /node/work
    assert moved["origin"] == {"tool": "pytest", "nodeid": "a", "rootdir": "/here",
                               "moved_from": "/node/work"}
    assert record["image"]["path"] == "/node/work/images/a.elf"     # a copy
    assert relocate(moved, "/here") == moved                        # already here


# ---- farm replay ----

def test_farm_replay_reruns_it_here_the_same(farm_run: dict) -> None:
    recorded = {c.nodeid: c for c in read_junit(farm_run["junit"])}
    for test, nodeid in (("divide_by_zero", CRASH), (ASSERT, ASSERT)):
        done = _farm("replay", "run/junit.xml", test, cwd=farm_run["here"])
        manifest = json.loads(Path(recorded[nodeid].manifest).read_text())["result"]
        assert done.returncode == 0, done.stderr
        assert done.stdout == recorded[nodeid].console        # the console the node had
        first, last = done.stderr.splitlines()[0], done.stderr.splitlines()[-1]
        assert first == (f"farm replay: {nodeid} (it failed on node-7): "
                         f"run/manifests/{Path(recorded[nodeid].manifest).name}")
        outcome = (f"killed: {manifest['reason']}" if manifest["status"] is None
                   else f"exit status {manifest['status']}")
        assert last == (f"farm replay: same as the recording ({outcome}, "
                        f"{manifest['instructions']} instructions, console "
                        f"{manifest['console_length']} bytes)")


@pytest.mark.parametrize("report", ["run", "run/report.html", None])
def test_farm_replay_takes_the_run_directory_or_the_html_report(farm_run: dict,
                                                                report: str | None) -> None:
    junit = farm_run["junit"]
    write_html(junit, junit.parent / "report.html")
    args = [report] if report else ["--run-dir", "run"]      # no REPORT: the run directory
    done = _farm("replay", *args, "divide_by_zero", cwd=farm_run["here"])
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[-1].startswith("farm replay: same as the recording")


def test_farm_replay_finds_a_moved_run_by_its_manifests_directory(farm_run: dict,
                                                                  tmp_path: Path) -> None:
    shutil.copytree(farm_run["here"] / "run", tmp_path / "copy")
    shutil.copyfile(farm_run["here"] / "images" / "suite_crashes.elf", tmp_path / "suite.elf")
    # Another machine: the recorded image path does not exist there; --image names it.
    done = _farm("replay", str(tmp_path / "copy"), "divide_by_zero", "--image",
                 str(tmp_path / "suite.elf"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert str(tmp_path / "copy" / "manifests") in done.stderr.splitlines()[0]


def test_farm_replay_says_when_the_image_changed(farm_run: dict, tmp_path: Path) -> None:
    changed = tmp_path / "suite.elf"
    changed.write_bytes((farm_run["here"] / "images" / "suite_crashes.elf").read_bytes() + b"\0")
    done = _farm("replay", str(farm_run["junit"]), "divide_by_zero", "--image", str(changed),
                 cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.splitlines()[-1].startswith(
        "farm replay: image suite.elf changed since the recording (sha256 ")
    assert "Traceback" not in done.stderr


def test_farm_replay_says_when_the_image_is_missing(farm_run: dict, tmp_path: Path) -> None:
    shutil.copytree(farm_run["here"] / "run", tmp_path / "copy")
    kept = tmp_path / "copy" / "manifests" / "images_suite_crashes.elf_divide_by_zero.json"
    recorded = json.loads(kept.read_text())
    gone = tmp_path / "elsewhere" / "suite_crashes.elf"     # as on another machine
    recorded["image"]["path"] = str(gone)
    kept.write_text(json.dumps(recorded))
    done = _farm("replay", "copy", "divide_by_zero", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        f"farm replay: image {gone} not found (also looked in copy/manifests) "
        "(give its path with --image)")
    done = _farm("replay", "copy", "divide_by_zero", "--image", "typo.elf", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        f"farm replay: image typo.elf not found (given instead of the recorded {gone})")
    shutil.copyfile(farm_run["here"] / "images" / "suite_crashes.elf", tmp_path / "found.elf")
    done = _farm("replay", "copy", "divide_by_zero", "--image", "found.elf", cwd=tmp_path)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("args, message", [
    (["nope.xml", "x"], "farm: error: nope.xml: no such file or directory (give the run's "
                        "junit.xml, report.html or run directory)"),
    (["run", "no_such_test"], "farm: error: run/junit.xml: no test matches 'no_such_test'; the "
                              f"tests it can replay: {CRASH} {ASSERT}"),
    (["run", "fmt_decimal"], f"farm: error: run/junit.xml: {PASSES} (passed) has no manifest "
                             "to replay (it did not fail)"),
    (["images", "x"], "farm: error: images: no junit.xml in this directory (is it the run "
                      "directory of a farm run?)"),
    (["run", "x", "--stop-at", "-3"], "farm: error: argument --stop-at: must be a positive "
                                      "integer below 2**64, not -3 (see 'farm replay --help')"),
])
def test_farm_replay_mistakes_are_one_line(farm_run: dict, args: list[str], message: str) -> None:
    done = _farm("replay", *args, cwd=farm_run["here"])
    assert (done.returncode, done.stdout, done.stderr) == (2, "", message + "\n")


def test_find_case_exact_substring_and_ambiguous(tmp_path: Path) -> None:
    def case(nodeid: str, manifest: str = "") -> Case:
        return Case(nodeid, "", nodeid, "failed" if manifest else "passed", 0.0, "n", "", "",
                    "", manifest)

    cases = [case("s.elf::read", "/m/1.json"), case("s.elf::read_more", "/m/2.json"),
             case("s.elf::read_all"), case("t.elf::write", "/m/3.json")]
    junit = tmp_path / "junit.xml"
    assert find_case(cases, "s.elf::read", junit) is cases[0]         # exact beats substring
    assert find_case(cases, "write", junit) is cases[3]
    assert find_case(cases, "_all", junit) is cases[2]
    assert find_case(cases, "read_", junit) is cases[1]     # the one of two with a manifest
    with pytest.raises(FarmError, match=r"'read' matches 2 tests; give more of the node id: "
                                        r"s\.elf::read s\.elf::read_more$"):
        find_case(cases, "read", junit)                     # two of the three replayable
    with pytest.raises(FarmError, match=r"'xyz' matches 2 tests; give more of the node id: "
                                        r"a::xyz1 a::xyz2$"):
        find_case([case("a::xyz1"), case("a::xyz2")], "xyz", junit)     # none replayable


def test_find_manifest_falls_back_to_the_manifests_directory(tmp_path: Path) -> None:
    (tmp_path / "manifests").mkdir()
    kept = tmp_path / "manifests" / "s.elf_t.json"
    kept.write_text("{}")
    junit = tmp_path / "junit.xml"
    moved = Case("s.elf::t", "s.elf", "t", "failed", 0.0, "n", "", "", "", "/gone/s.elf_t.json")
    assert find_manifest(moved, junit) == kept
    lost = Case("s.elf::u", "s.elf", "u", "failed", 0.0, "n", "", "", "", "/gone/s.elf_u.json")
    with pytest.raises(FarmError, match=r"the manifest of s\.elf::u is missing: not at "
                                        r"/gone/s\.elf_u\.json, nor in .*manifests$"):
        find_manifest(lost, junit)


def test_find_junit_of_an_html_report_without_its_junit(tmp_path: Path) -> None:
    (tmp_path / "report.html").write_text('<meta name="farm-junit" content="/gone/j.xml">')
    with pytest.raises(FarmError, match=r"neither /gone/j\.xml \(which it names\) nor "
                                        r".*junit\.xml exists"):
        find_junit(tmp_path / "report.html")


# ---- the HTML report ----

JUNIT = """\
<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="3">
<testcase classname="s.a.elf" name="kept" time="0.5">
  <properties><property name="node" value="node-1" />
  <property name="hv_manifest" value="/run dir/manifests/s_a.elf_kept.json" /></properties>
  <failure message="x">a.c:3: x</failure></testcase>
<testcase classname="s.a.elf" name="lost" time="0.5">
  <properties><property name="node" value="node-2" /></properties>
  <failure message="y">a.c:4: y</failure></testcase>
<testcase classname="s.a.elf" name="fine" time="0.5" />
</testsuite></testsuites>
"""


def test_the_report_shows_the_replay_commands_of_each_kept_failure(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    junit.write_text(JUNIT)
    write_html(junit, tmp_path / "report.html")
    html = (tmp_path / "report.html").read_text()
    assert html.count('<pre class="replay">') == 1               # "lost" kept none
    block = html[html.index('<pre class="replay">'):]
    block = block[:block.index("</pre>")]
    assert block == (f'<pre class="replay">farm replay {junit} s/a.elf::kept\n'
                     "hv replay &#39;/run dir/manifests/s_a.elf_kept.json&#39;")  # quoted
    assert html.index("s/a.elf::kept</code> &mdash;") < html.index('<pre class="replay">') \
        < html.index("s/a.elf::lost</code> &mdash;")
    assert f'<meta name="farm-junit" content="{junit}">' in html
    assert find_junit(tmp_path / "report.html") == junit


# ---- farm run --local ----

def test_farm_run_local_keeps_the_manifests_in_the_run_directory(farm_run: dict,
                                                                 tmp_path: Path) -> None:
    here = farm_run["here"]
    run = tmp_path / "local"
    done = _farm("run", "--local", "--run-dir", str(run), "images/suite_crashes.elf", "-k",
                 "divide_by_zero or passes", cwd=here)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr
    assert sorted(p.name for p in run.iterdir() if p.is_dir()) == ["manifests"]
    (kept,) = (run / "manifests").iterdir()
    assert kept.name == "images_suite_crashes.elf_divide_by_zero.json"
    assert "moved_from" not in json.loads(kept.read_text())["origin"]       # ran right here
    html = (run / "report.html").read_text()
    assert f"farm replay {run / 'junit.xml'} images/suite_crashes.elf::divide_by_zero" in html
    again = _farm("replay", str(run), "divide_by_zero", cwd=tmp_path)
    assert again.returncode == 0, again.stderr


def _replay_subparser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["replay"]


def _options(parser: argparse.ArgumentParser) -> dict[str, tuple]:
    """Each optional argument's flags -> what argparse does with it (help text included)."""
    return {tuple(a.option_strings): (a.dest, a.default, a.type, a.metavar, a.help, a.nargs)
            for a in parser._actions if a.option_strings and a.dest != "help"}


def test_hv_and_farm_replay_share_their_replay_options() -> None:
    from farm import cli as farm_cli
    from hv import cli as hv_cli

    hv_options = _options(_replay_subparser(hv_cli._parser()))
    farm_options = _options(_replay_subparser(farm_cli._parser()))
    shared = {("--image",), ("--stop-at",), ("--timeout",), ("--switcher",), ("--gdb",)}
    assert set(hv_options) == shared                  # hv replay has only these
    assert {k: farm_options[k] for k in shared} == hv_options
    assert set(farm_options) - shared == {("--run-dir",), ("-i", "--inventory")}
    argv = ["--image", "x.elf", "--stop-at", "7", "--timeout", "2.5", "--switcher", "emu",
            "--gdb", "0"]
    hv_args = hv_cli._parser().parse_args(["replay", "m.json", *argv])
    farm_args = farm_cli._parser().parse_args(["replay", "a_test", *argv])
    picked = ("image", "stop_at", "timeout", "switcher", "gdb")
    assert ([getattr(hv_args, k) for k in picked] == [getattr(farm_args, k) for k in picked]
            == ["x.elf", 7, 2.5, "emu", "0"])
    bare = (hv_cli._parser().parse_args(["replay", "m.json"]),
            farm_cli._parser().parse_args(["replay", "a_test"]))
    assert all(getattr(args, k) is None for args in bare for k in picked)
