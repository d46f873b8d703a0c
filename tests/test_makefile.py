"""The Makefile's commands name modules and scripts that exist: `make demo` is the first command a new user
types, and a moved module would break it without any other test noticing."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_makefile_names_existing_modules_and_scripts() -> None:
    recipe = "\n".join(line for line in (ROOT / "Makefile").read_text().splitlines() if line.startswith("\t"))
    modules = re.findall(r"\$\(PYTHON\) -m (src[\w.]*)", recipe)
    scripts = re.findall(r"\$\(PYTHON\) (src/[\w/]+\.py)", recipe)
    assert "src.demo" in modules and "src/train.py" in scripts  # the demo target is parsed
    assert [m for m in modules if importlib.util.find_spec(m) is None] == []
    assert [s for s in scripts if not (ROOT / s).is_file()] == []
