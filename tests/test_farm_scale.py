"""farm run's scheduling, health checks and rescheduling at 500 nodes, on paper.

The real controller runs: pytest, xdist's DSession and LoadScheduling, farm's
FarmPlugin and BatchController, junitxml and the terminal, against nodes that
exist only as a mock transport (tests/farm_sim.py): every other node batched,
10% of them dying at random points (seeded), most of them for good and a
quarter with just the worker crashing.  The checks are on what the run
reported (JUnit XML, the hooks' reports, state.json), and the cost is counted,
not timed: Python calls in the controller and lines executed in farm's own
code, per test, must stay flat from 50 to 500 nodes.
"""

from __future__ import annotations

import collections
import json

import pytest
from farm_sim import fails, nodeid_of, run_farm

PER_NODE = 10             # tests per node: the work grows with the farm
SIZES = (50, 100, 200, 500)


@pytest.fixture(scope="module")
def farms(tmp_path_factory):
    """One counted run per size (the same seed: the same kinds of trouble)."""
    mp = pytest.MonkeyPatch()
    try:
        base = tmp_path_factory.mktemp("scale")
        return {n: run_farm(base / f"n{n}", mp, nodes=n, per_node=PER_NODE, seed=1, count=True)
                for n in SIZES}
    finally:
        mp.undo()


@pytest.fixture(scope="module")
def big(farms):
    """The one that matters: 500 nodes, 5000 tests, 50 node deaths."""
    return farms[500]


def test_the_run_ends_without_an_internal_error(big):
    assert big.recorder.error is None, big.recorder.error
    assert big.code == 1                    # the designed failures, nothing else
    assert big.transport.stats.steps <= big.transport.max_steps


def test_nodes_die_in_every_way_that_matters(big):
    deaths = big.transport.stats.deaths
    assert sum(deaths.values()) == 50
    for moment in ("batch in flight", "between batches", "mid-test", "between tests",
                   "outcome sent, not teardown", "reports sent, not done"):
        assert deaths[moment] >= 1, deaths
    how = collections.Counter(big.transport.how[name] for name, *_ in big.transport.died)
    assert how["gone"] >= 30 and how["crash"] >= 10, how


def test_every_test_has_exactly_one_outcome(big):
    cases = big.testcases()
    names = collections.Counter(f"{c.get('classname')}::{c.get('name')}" for c in cases)
    assert len(cases) == big.tests == len(names)
    assert all(count == 1 for count in names.values())
    by_index = {int(c.get("name").split("[")[1].rstrip("]")): c for c in cases}
    assert sorted(by_index) == list(range(big.tests))
    for i, case in by_index.items():
        failure = case.find("failure")
        if big.transport.delivered[i]:
            # It ran to the end somewhere: its own outcome.
            assert (failure is not None) == fails(i), (i, json.dumps(case.attrib))
            if fails(i):
                assert f"guest test {i} failed" in failure.get("message", "")
        else:
            # Only a test that took down two nodes has no result: it fails, saying so.
            error = case.find("error")
            assert failure is None and error is not None, i
            assert "crashed while running" in (error.text or ""), i


def test_no_result_that_arrived_is_lost_or_reported_twice(big):
    reported = collections.Counter(nodeid for nodeid, when, *_ in big.recorder.reports
                                   if when == "call")
    for i in range(big.tests):
        sent = big.transport.delivered[i]
        assert len(sent) <= 1, (i, sent)              # never run again once reported
        assert reported[nodeid_of(i)] == len(sent), i   # every result that came is kept


def test_a_test_on_a_dead_node_is_rescheduled_once_and_runs_elsewhere(big):
    crashes = [(nodeid, outcome, node) for nodeid, when, outcome, node in big.recorder.reports
               if when == "???"]
    died_on = {name for name, *_ in big.transport.died}
    assert crashes and all(node in died_on for _, _, node in crashes)
    rescheduled = big.plugin.rescheduled
    assert len(rescheduled) >= 30
    for nodeid in rescheduled:
        first = [(o, n) for t, o, n in crashes if t == nodeid]
        assert first[0][0] == "rerun", (nodeid, first)
        reruns = [o for o, _ in first if o == "rerun"]
        assert len(reruns) == 1, (nodeid, first)      # rescheduled once, never twice
        i = int(nodeid.split("[")[1].rstrip("]"))
        ran = big.transport.delivered[i]
        if ran:                                       # (else it took a second node down)
            dead = first[0][1]
            if big.transport.how[dead] == "gone":
                assert ran[0] != dead, nodeid
        else:
            assert len(first) == 2 and first[1][0] == "failed", (nodeid, first)


def test_dead_nodes_are_marked_bad_and_no_worker_starts_on_them(big):
    recorded = big.run.load()
    died = {name for name, *_ in big.transport.died}
    assert {name for name, node in recorded.items() if node.state == "bad"} == died
    for name in died:
        assert recorded[name].reason.startswith("lost during farm run"), recorded[name]
    assert big.transport.bad_starts == []
    assert big.transport.stats.probes >= len(died & big.transport.gone)


def test_a_worker_gets_the_command_line_without_every_nodes_tx(big):
    args = big.transport.start_args
    assert "--dist" in args and "-p" in args
    assert not [a for a in args if a.startswith("--tx")]
    assert big.transport.stats.args_sent == len(args) * big.transport.stats.starts


def _per_test(result) -> dict[str, float]:
    calls = result.recorder.calls
    return {"calls": sum(v for k, v in calls.items() if k != "harness") / result.tests,
            "farm calls": calls["farm"] / result.tests,
            "farm lines": result.recorder.farm_lines / result.tests,
            "messages": (sum(result.transport.stats.events.values())
                         + sum(result.transport.stats.commands.values())) / result.tests,
            "start words": result.transport.stats.args_sent / result.tests}


def test_cost_per_test_stays_flat_from_50_to_500_nodes(farms):
    """Ten times the nodes and tests, ten times the work (within 30%).

    Counted from the session's start to the end of its run loop: every Python
    function call in the controller (pytest, xdist, farm and the standard
    library, not the simulation), the lines executed in farm's own modules
    (which also count each turn of a loop in them), the messages on the mock
    transport and the command-line words sent to start workers.
    """
    table = {n: _per_test(farms[n]) for n in SIZES}
    for n in SIZES:
        print(n, {k: round(v, 1) for k, v in table[n].items()})
    for measure in table[50]:
        small, large = table[50][measure], table[500][measure]
        assert large <= 1.3 * small, (measure, table)
        for n in SIZES:
            assert table[n][measure] <= 1.3 * small, (measure, n, table)


def test_nodes_lost_before_their_collection_arrives_do_not_hang_the_run(tmp_path, monkeypatch):
    """xdist hands out tests once every node's collection is in: a node gone before
    its collection arrived (and no worker to stand in) must not be waited for."""
    r = run_farm(tmp_path, monkeypatch, nodes=20, per_node=10, death_rate=0.2, early=4)
    assert r.recorder.error is None, r.recorder.error     # (a Hang, before the fix)
    assert r.transport.stats.deaths["starting up"] == 4
    outcomes = {c.get("name"): c.find("failure") is not None for c in r.testcases()}
    assert outcomes == {f"test_guest[{i}]": fails(i) for i in range(r.tests)}
    died = {name for name, *_ in r.transport.died}
    assert {n for n, s in r.run.load().items() if s.state == "bad"} == died
