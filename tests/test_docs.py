"""The walk-through in docs/inside.md runs as printed: its code block, then the tape dump
it shows (the same file's next text block)."""

import contextlib
import io
import re
from pathlib import Path

DOC = Path(__file__).parent.parent / "docs" / "inside.md"


def test_inside_walkthrough_runs_and_prints_the_tape_shown():
    text = DOC.read_text()
    code = re.findall(r"```python\n(.*?)```", text, re.S)[0]
    shown = re.findall(r"```\n(#0 .*?)```", text, re.S)[0]
    namespace = {}
    exec(compile(code, str(DOC), "exec"), namespace)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        print(namespace["g"].dump())
    assert out.getvalue().strip() == shown.strip()
    hidden = namespace["model"].hidden_layers
    assert [layer.selected.shape for layer in hidden] == [(10, 20), (10, 20)]
    assert round(hidden[0].updated_fraction, 2) == 0.31  # "156 of the 500 rows ... 0.31"
