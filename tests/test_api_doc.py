"""docs/api.md's Python examples run as written (in order, one namespace; ``OUT`` is a temporary directory)."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "api.md"


def test_api_doc_examples_run(tmp_path):
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) == 3  # fit, prepare, load_run
    namespace = {"OUT": tmp_path}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)  # noqa: S102 - our own documentation
    assert (tmp_path / "fit" / "architecture.json").is_file() and (tmp_path / "own" / "summary.json").is_file()
