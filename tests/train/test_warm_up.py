"""The warm-up before a run's first timed step (``train.warm_up``): it compiles what the
timed steps use, and it changes none of the run's numbers."""

import subprocess
import sys
import textwrap

import pytest

# In a process of its own, so that no earlier test has compiled (or loaded) a kernel yet:
# the kernels' compiled signatures are counted after the warm-up and again after timed steps.
COUNT_COMPILED = textwrap.dedent("""
    import gc
    import sys
    from numba.core.dispatcher import Dispatcher
    from mesimp_engine.train.build import build_run
    from mesimp_engine.train.loop import TIMES, Trainer
    from mesimp_engine.train.settings import TrainSettings
    from mesimp_engine.train.warm_up import warm_up

    def compiled():
        # every Numba dispatcher alive, not only those bound to a module's name (the small
        # products' kernels live in a dict, made by a factory)
        return sum(len(d.overloads) for d in gc.get_objects() if isinstance(d, Dispatcher))

    data_dir, flags = sys.argv[1], sys.argv[2:]
    for flag in flags:
        task, method, k, batch = flag.split(":")
        settings = TrainSettings(task=task, method=method, k=int(k) if k else None, batch_size=int(batch),
                                 limit_train=400, limit_eval=50, data_dir=data_dir, out="unused",
                                 progress=False).resolve()
        task_, model, optimizer, rngs = build_run(settings)
        trainer = Trainer(task_, model, optimizer, settings, rngs, log=lambda line: None)
        warm_up(trainer)
        before = compiled()
        order = trainer.epoch_order(1)
        for step in range(min(20, len(order) // settings.batch_size)):
            trainer.train_step(task_.batch(order[step * settings.batch_size:(step + 1) * settings.batch_size]),
                               dict.fromkeys(TIMES, 0.0))
        print(flag, before, compiled())
""")


def _compiled_counts(data_dir, runs):
    proc = subprocess.run([sys.executable, "-c", COUNT_COMPILED, str(data_dir), *runs], capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    return {line.split()[0]: tuple(map(int, line.split()[1:])) for line in proc.stdout.splitlines()}


def test_timed_steps_compile_nothing_after_the_warm_up(prepared_data):
    runs = ["mnist:dense::10", "mnist:meprop:20:10", "mnist:unified:30:50", "mnist:randk:20:10"]
    counts = _compiled_counts(prepared_data, runs)
    assert set(counts) == set(runs)
    for run, (after_warm_up, after_steps) in counts.items():
        assert after_warm_up > 0 and after_steps == after_warm_up, run


def test_timed_steps_compile_nothing_after_the_warm_up_pos_and_parse(prepared_ewt):
    runs = ["pos:meprop:5:1", "parse:meprop:20:100"]
    counts = _compiled_counts(prepared_ewt, runs)
    assert set(counts) == set(runs)
    for run, (after_warm_up, after_steps) in counts.items():
        assert after_warm_up > 0 and after_steps == after_warm_up, run


@pytest.mark.parametrize("task,flags", [
    ("mnist", {"method": "meprop", "k": 20, "dropout": 0.2, "hidden": 64}),
    ("pos", {"method": "meprop", "k": 5, "hidden": 32}),
    ("parse", {"method": "meprop", "k": 20, "hidden": 64, "batch_size": 100, "dropout": 0.5}),
])
def test_warm_up_leaves_the_runs_numbers_alone(task, flags, request, tmp_path, monkeypatch):
    from mesimp_engine.train import loop
    from mesimp_engine.train.build import build_run
    from mesimp_engine.train.settings import TrainSettings

    data_dir = request.getfixturevalue("prepared_data" if task == "mnist" else "prepared_ewt")
    calls = []

    def fit(warm, out):
        settings = TrainSettings(task=task, epochs=2, limit_train=300, limit_eval=100, data_dir=str(data_dir),
                                 out=str(tmp_path / out), progress=False, **flags).resolve()
        task_, model, optimizer, rngs = build_run(settings)
        trainer = loop.Trainer(task_, model, optimizer, settings, rngs, log=lambda line: None)
        monkeypatch.setattr(loop, "warm_up", (lambda t: calls.append(out)) if not warm else loop_warm_up)
        return [(e["train_loss"], e["dev"], e["test"], e["updated_fraction"]) for e in trainer.fit()["epochs"]]

    loop_warm_up = loop.warm_up
    assert fit(True, "warm") == fit(False, "cold")
    assert calls == ["cold"]
