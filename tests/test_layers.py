"""The import graph of src/: lower layers never reach up to the task registry, there are no circles between
src/inference and src/tasks, and each feature family keeps its code in one place under src/tasks/.

Every import statement counts: module level, inside functions and under `if TYPE_CHECKING:`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
LOWER = ("src.data", "src.models", "src.training", "src.inference", "src.reports", "src.launch", "src.utils")


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p) for p in SRC.rglob("*.py")}


def imports_of(path: Path) -> set[str]:
    """Every `src.*` module `path` imports, anywhere in the file (`from pkg import module` is that module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("src")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("src"):
            found |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES else node.module
                      for a in node.names}  # fmt: skip
    return found


GRAPH = {module_name(p): imports_of(p) for p in SRC.rglob("*.py")}


def reaches(start: str, goal: str) -> list[str] | None:
    """An import path from `start` to `goal` or a module under it, if any (depth-first)."""
    stack, seen = [(start, [start])], {start}
    while stack:
        module, path = stack.pop()
        for target in GRAPH.get(module, ()):
            if target == goal or target.startswith(goal + "."):
                return [*path, target]
            if target not in seen and target in GRAPH:
                seen.add(target)
                stack.append((target, [*path, target]))
    return None


@pytest.mark.parametrize("layer", LOWER)
def test_lower_layers_never_import_the_tasks(layer: str) -> None:
    offenders = {m: sorted(t for t in targets if t.startswith("src.tasks")) for m, targets in GRAPH.items()
                 if m.startswith(layer)}  # fmt: skip
    assert not {m: t for m, t in offenders.items() if t}, "hand the Task object down instead (STYLE.md 13)"


def test_no_circle_between_inference_and_tasks() -> None:
    for module in (m for m in GRAPH if m.startswith("src.inference")):
        assert reaches(module, "src.tasks") is None, reaches(module, "src.tasks")


def test_no_import_circle_anywhere() -> None:
    def back_to(start: str) -> list[str] | None:
        stack, seen = [(start, [start])], {start}
        while stack:
            module, path = stack.pop()
            for target in GRAPH.get(module, ()):
                if target == start:
                    return [*path, target]
                if target not in seen:
                    seen.add(target)
                    stack.append((target, [*path, target]))
        return None

    circles = [" -> ".join(path) for module in GRAPH if (path := back_to(module))]
    assert not circles, circles


def test_word_tagging_lives_in_one_place_under_the_tasks() -> None:
    assert {p.name for p in (SRC / "tasks" / "words").glob("*.py")} >= {"data.py", "module.py", "predict.py"}
    scattered = [p for layer in ("data", "models", "inference") for p in (SRC / layer).glob("*words*")]
    assert not scattered, scattered
