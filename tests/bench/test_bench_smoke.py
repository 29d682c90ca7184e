"""Smoke runs of the benchmarks: they validate every implementation, then write the JSON
document of SPEC section 5 with a row per (case, impl)."""

import json
import os
import re
import subprocess
import sys

import pytest


@pytest.mark.parametrize("bench", ["backprop", "topk", "overhead"])
def test_bench_quick_writes_document(bench, tmp_path, prepared_data):
    out = tmp_path / f"{bench}.json"
    data = ["--data-dir", str(prepared_data)] if bench == "overhead" else []
    proc = subprocess.run([sys.executable, "-m", "mesimp_engine", "bench", bench, "--quick", "--repeats", "1",
                           "--json", str(out), *data], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert doc["bench"] == bench and doc["environment"]["cpu_count"] >= 1
    rows = doc["results"]
    assert rows and all(r["median_s"] > 0 and r["case"] and r["impl"] for r in rows)
    cases = {r["case"] for r in rows}
    for case in cases:
        assert sum(r.get("baseline", False) for r in rows if r["case"] == case) <= 1
    assert f"# bench {bench}" in proc.stdout
    if bench == "backprop":  # every case times the memory floor beside the implementations
        for case in cases:
            assert any(r["impl"].startswith("floor") for r in rows if r["case"] == case)
        assert "dense/floor" in proc.stdout
    if bench == "topk":  # the read-pass floor, also like for like on one thread
        assert "100x500 k=20: ours / floor (1 thread) = " in proc.stdout
        assert re.search(r"100x500 k=20: (filter|heap) \(1 thread\) / floor \(1 thread\) = [0-9.]+x", proc.stdout)
    if bench == "overhead":  # the papers' "backprop time" in a training step, both precisions
        assert "random data" not in proc.stdout  # the epoch case trains on MNIST itself
        for dtype in ("float32", "float64"):
            case = f"MLP linear backward in a training step b=10 {dtype}"
            assert {r["impl"] for r in rows if r["case"] == case} == {"dense", "meProp k=20"}
            assert f"linear backward in a training step ({dtype}, steps in turns): dense / meProp = " in proc.stdout
        busy = [r for r in rows if "busy process" in r["case"]]
        if len(os.sched_getaffinity(0)) > 1:  # the timed choice beside its two fixed options
            assert {r["impl"] for r in busy} == {"timed choice (the engine's)", "always parallel", "always one thread"}
            assert "training step with the other cores busy: always parallel / timed choice = " in proc.stdout
        else:
            assert not busy and "busy-machine case skipped" in proc.stdout
