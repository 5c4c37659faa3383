"""`gdcore bench`: the registry, the agreement checks, the bound, table, JSON and plots.

Everything runs at the hidden "tiny" scale on a few workloads: these tests check that the bench
measures what it says, not how fast anything is (speed lives in benchmarks/).
"""

import json
import math

import numpy as np
import pytest

import gdcore
from gdcore import bench, cli

SUBSET = "adam-1k|logreg-b32|linreg-b1|rosenbrock"


@pytest.mark.parametrize("scale", bench.SCALES)
def test_registry_lists_the_issue_workloads(scale):
    ws = bench.workloads(scale)
    names = [w.name for w in ws]
    assert len(names) == len(set(names))
    for prefix in ("adam-1k", "sgd-1k", "logreg-b1", "logreg-b32", "logreg-b256", "logreg-bn",
                   "mlp-b32", "mlp-b128", "mlp-b512", "rosenbrock", "linreg-b1"):  # fmt: skip
        assert prefix in names
    for w in ws:
        peers = [p.name for p in w.peers]
        assert peers[0] == "gdcore"
        if w.family == "mlp":
            assert set(peers) == {"gdcore", "torch-loop", "scikit-learn"}
        else:
            assert "numpy-twin" in peers  # the twin is always a peer
        assert w.reference is None or w.reference in peers


def test_full_scale_sizes_and_bytes():
    ws = {w.name: w for w in bench.workloads("full")}
    # Adam reads p, g, m, v and writes p, m, v: 7 float32 per parameter; SGD-momentum 5
    assert ws["adam-10M"].items == 10**7 and ws["adam-10M"].bytes_moved == 7 * 4 * 10**7
    assert ws["sgd-10M"].bytes_moved == 5 * 4 * 10**7
    assert ws["adam-10M"].bound == "memory" and ws["adam-1k"].bound is None  # in cache: no bound
    assert ws["logreg-b32"].items == 200_000 and ws["logreg-b32"].bytes_moved >= 200_000 * 100 * 4
    assert ws["rosenbrock"].bound is None
    assert ws["mlp-b128"].bound == "compute"


def test_mlp_flops_count_every_product():
    # forward X@W and weight gradient X.T@G for 784x256, 256x256, 256x10, input gradient G@W.T
    # for the last two layers, 2 flops per multiply-add
    weights = 784 * 256 + 256 * 256 + 256 * 10
    assert bench.mlp_flops_per_sample() == 2 * weights * 2 + 2 * (256 * 256 + 256 * 10)
    assert bench.mlp_flops_per_sample() == 1_211_392


def test_mlp_workloads_skip_until_gdcore_has_the_mlp(monkeypatch):
    monkeypatch.delattr(gdcore, "MLPClassifier", raising=False)
    monkeypatch.delitem(gdcore._LAZY, "MLPClassifier")  # gdcore loads its estimators lazily
    report = bench.run_bench("tiny", threads=[1], only="mlp-b32")
    assert {r.peer for r in report.results} == {"gdcore", "torch-loop", "scikit-learn"}
    assert all(r.status == "skipped" and "MLPClassifier" in r.note for r in report.results)


def test_mlp_workload_runs_against_the_sklearn_api(monkeypatch):
    """With an estimator of the agreed API in gdcore's place, every MLP peer runs and trains."""
    neural_network = pytest.importorskip("sklearn.neural_network")
    monkeypatch.setattr(gdcore, "MLPClassifier", neural_network.MLPClassifier, raising=False)
    report = bench.run_bench("tiny", threads=[1], only="mlp-b128")
    by = {r.peer: r for r in report.results}
    assert by["gdcore"].status == "ok" and by["gdcore"].agree.startswith("trains")
    assert by["scikit-learn"].status == "ok"
    assert by["gdcore"].pct_of_bound is not None and by["gdcore"].bound == "FMA"
    if by["torch-loop"].status != "skipped":
        assert by["torch-loop"].status == "ok"


def test_agreement_bitwise_and_relative():
    a = np.array([1.0, -2.0, 3.0])
    assert bench.agreement(a, a.copy(), 0.0) == (True, "bitwise")
    b = a.copy()
    b[1] = np.nextafter(b[1], 0.0)
    ok, text = bench.agreement(b, a, 0.0)
    assert not ok and "not bitwise" in text
    assert bench.agreement(a + 1e-7, a, 1e-5)[0]
    assert not bench.agreement(a + 1e-3, a, 1e-5)[0]
    assert not bench.agreement(np.array([np.nan, 1.0, 1.0]), a, 1.0)[0]
    assert not bench.agreement(a[:2], a, 1.0)[0]


def test_a_wrong_peer_is_reported_as_disagreeing():
    (w,) = bench.workloads("tiny", only="^adam-1k$")

    def too_big_a_step(data, threads):
        p, g = data["p"].copy(), data["g"]
        opt = gdcore.optim.Adam([p], lr=2e-3, num_threads=threads)
        return bench.Runner(lambda: opt.step([g]), lambda: p)

    w.peers = [p for p in w.peers if p.name in ("gdcore", "numpy-twin")]
    w.peers.append(bench.Peer("wrong-lr", too_big_a_step, tol=1e-5))
    report = bench.run_bench("tiny", threads=[1], registry=[w])
    by = {r.peer: r for r in report.results}
    assert by["gdcore"].status == "ok" and by["gdcore"].agree == "bitwise"
    assert by["wrong-lr"].status == "disagrees"
    assert report.disagreements == [by["wrong-lr"]]
    assert "**NO:" in report.table()


def test_missing_peer_modules_are_skipped(monkeypatch):
    real = bench._importable
    monkeypatch.setattr(bench, "_importable", lambda m: False if m in ("torch", "sklearn") else real(m))
    report = bench.run_bench("tiny", threads=[1], only="logreg-b1$|logreg-b32")
    by = {(r.workload, r.peer): r for r in report.results}
    assert by[("logreg-b1", "scikit-learn")].status == "skipped"
    assert by[("logreg-b32", "torch-loop")].status == "skipped"
    assert "not importable" in by[("logreg-b32", "torch-loop")].note
    assert by[("logreg-b32", "gdcore")].status == "ok"


def test_fma_peak_with_threads_is_positive_and_bounded():
    one = bench.fma_peak(1, seconds=0.01, repeats=2)
    two = bench.fma_peak(2, seconds=0.01, repeats=2)
    assert one > 1e8 and two > 1e8
    assert two < 2.5 * one  # two threads cannot do more than twice one thread's FMAs (+ noise)


def test_cli_bench_writes_table_json_and_plots(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "bench.json"
    pics = tmp_path / "pics"
    code = cli.main(["bench", "--scale", "tiny", "--only", SUBSET, "--threads", "1,2",
                     "--json", str(out), "--plot", str(pics), "--no-progress"])  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0
    assert "| workload | peer | best, 1t |" in printed and "GB/s" in printed
    data = json.loads(out.read_text())
    assert set(data["bounds"]) == {"1", "2"}
    for b in data["bounds"].values():
        assert b["bandwidth"] > 1e8 and b["fma_peak"] > 1e8
    rows = {(r["workload"], r["peer"], r["threads"]): r for r in data["results"]}
    for t in (1, 2):
        assert rows[("adam-1k", "gdcore", t)]["agree"] == "bitwise"
        assert rows[("adam-1k", "numpy-twin", t)]["agree"] == "reference"
        assert rows[("rosenbrock", "gdcore", t)]["agree"] == "bitwise"
        assert rows[("adam-1k", "gdcore", t)]["vs_gdcore"] == 1.0
    assert all(r["status"] in ("ok", "skipped") for r in data["results"])
    ok = [r for r in data["results"] if r["status"] == "ok"]
    assert all(r["best_s"] > 0 and r["best_s"] <= r["median_s"] for r in ok)
    assert all(math.isclose(r["items_per_s"] * r["best_s"],
                            next(w["items"] for w in data["workloads"] if w["name"] == r["workload"]))
               for r in ok)  # fmt: skip
    assert bench.Report.from_json(data).table() in printed  # the JSON holds the whole table
    names = {p.name for p in pics.iterdir()}
    assert {"time_vs_n.png", "time_vs_batch.png", "speedup_vs_threads.png"} <= names
    assert all((pics / n).stat().st_size > 5000 for n in names)


def test_cli_rejects_bad_thread_lists(capsys):
    for bad in ("0", "a,b", ""):
        with pytest.raises(SystemExit) as exc:
            cli.main(["bench", "--threads", bad])
        assert exc.value.code == 2
    assert "--threads" in capsys.readouterr().err


def test_run_bench_rejects_bad_arguments():
    with pytest.raises(ValueError, match="scale"):
        bench.workloads("huge")
    with pytest.raises(ValueError, match="threads"):
        bench.run_bench("tiny", threads=[0])


def test_progress_without_tqdm_prints_one_line_per_run(monkeypatch, capsys):
    monkeypatch.setitem(__import__("sys").modules, "tqdm", None)  # import tqdm now fails
    bench.run_bench("tiny", threads=[1], only="rosenbrock", progress=True)
    err = capsys.readouterr().err
    assert "[1/5] bound, 1 thread(s)" in err and "[4/5] rosenbrock" in err and "[5/5] bound again" in err


class _FakeClock:
    """Stands in for the time module: perf_counter advances only when a fake run says so."""

    def __init__(self):
        self.now = 0.0

    def perf_counter(self):
        return self.now


@pytest.mark.parametrize(
    "first, cost, expect_runs",
    [
        (2.0, 2.0, 2),  # past max_time but one sample, under one_run_enough: one more run
        (4.0, 4.0, 1),  # a single run of 4 s (>= one_run_enough) is enough
        (0.25, 0.25, 12),  # min_time 3 s of 0.25 s runs (exact in binary), counting the first
    ],
)
def test_time_runs_sampling_rules(monkeypatch, first, cost, expect_runs):
    clock = _FakeClock()
    monkeypatch.setattr(bench, "time", clock)
    runs = []

    def run():
        runs.append(1)
        clock.now += cost

    runner = bench.Runner(run, lambda: None, fresh=True)
    best, median, n = bench.time_runs(runner, min_time=3.0, min_repeats=5, max_time=3.0,
                                      one_run_enough=3.0, first=first)  # fmt: skip
    assert n == expect_runs and len(runs) == expect_runs - 1
    assert best == pytest.approx(cost) and median == pytest.approx(cost)


def test_time_runs_loops_fast_calls_to_a_millisecond(monkeypatch):
    clock = _FakeClock()
    monkeypatch.setattr(bench, "time", clock)

    def run():
        clock.now += 2e-5

    best, _, n = bench.time_runs(bench.Runner(run, lambda: None), min_time=0.01, min_repeats=3,
                                 max_time=1.0, one_run_enough=1.0)  # fmt: skip
    assert best == pytest.approx(2e-5)
    assert n % 100 == 0 and n >= 300  # loops of 100 calls (2 ms), at least three of them
