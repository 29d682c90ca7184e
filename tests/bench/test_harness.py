"""The bench table printer: one column per field, whatever the names' lengths."""

import io

from mesimp_engine.bench.harness import print_table


def test_print_table_aligns_long_case_and_impl_names():
    results = [
        {"case": "short", "impl": "a", "median_s": 2e-3, "baseline": True},
        {"case": "short", "impl": "b", "median_s": 1e-3},
        {"case": "MLP linear backward in a training step b=10 float64", "impl": "dense", "median_s": 8e-4, "baseline": True},
        {"case": "MLP linear backward in a training step b=10 float64", "impl": "an implementation with a long name",
         "median_s": 2e-4},
    ]
    out = io.StringIO()
    print_table({"bench": "t", "environment": {}, "results": results, "notes": ["n"]}, file=out)
    lines = out.getvalue().splitlines()
    header, rows = lines[2], lines[4:8]
    # every row ends its columns where the header does, and the ratios are the baseline's
    assert all(len(row) == len(header) for row in rows)
    assert [row.split()[-1] for row in rows] == ["baseline", "2.00x", "baseline", "4.00x"]
    assert lines[-2].startswith("# speed-up: the case's baseline row's median time / this row's")
    assert lines[-1] == "# n"
