"""The shape of the house: imports run one way (no cycle anywhere in itbench/, nothing imports the
CLI), modules stay readable in one sitting, and every command's --help works."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "itbench"
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _resolve(name: str, modules: dict) -> str | None:
    """The itbench module an import names (a package's name when it names something inside it)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def import_graph() -> dict[str, set[str]]:
    """Module -> the itbench modules it imports, at module level or inside functions."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            for t in targets:
                if t.startswith("itbench"):
                    r = _resolve(t, modules)
                    if r and r != name:
                        edges.add(r)
        graph[name] = edges
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state and (found := visit(m)):
                return found
        state[n] = 2
        stack.pop()
        return None

    for n in sorted(graph):
        if n not in state and (found := visit(n)):
            return found
    return None


def test_no_import_cycle_anywhere():
    cycle = _cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_one():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_nothing_imports_the_cli():
    importers = sorted(m for m, edges in import_graph().items() if "itbench.cli" in edges)
    assert not importers, f"the CLI is the top floor; these import it: {importers}"


def private_imports() -> list[str]:
    """`from itbench.x import _name`: a module reaching into another's private names."""
    found = []
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("itbench"):
                found += [f"{name}: from {node.module} import {a.name}" for a in node.names
                          if a.name.startswith("_") and not a.name.startswith("__")]
    return found


def test_no_module_imports_another_modules_private_names():
    assert private_imports() == []


def test_only_paths_reads_itbench_home():
    import re

    readers = sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                     if re.search(r"[\"']ITBENCH_HOME[\"']", p.read_text()) and p.name != "paths.py")
    assert not readers, f"$ITBENCH_HOME belongs to itbench/paths.py; also read in {readers}"


def test_no_module_is_too_long_to_read_in_one_sitting():
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def _commands() -> list[list[str]]:
    from itbench.cli import build_parser

    out = [[]]
    sub = next(a for a in build_parser()._subparsers._group_actions)
    for name, parser in sub.choices.items():
        out.append([name])
        for action in parser._actions:
            if getattr(action, "choices", None) and isinstance(action.choices, dict):
                out += [[name, child] for child in action.choices]
    return out


@pytest.mark.parametrize("command", _commands(), ids=lambda c: " ".join(c) or "itbench")
def test_every_command_has_working_help(command, capsys):
    from itbench.cli import main

    with pytest.raises(SystemExit) as exit_:
        main([*command, "--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0 and ("usage: itbench" in out or "itbench eval:" in out), out


def test_eval_help_shows_itbench_and_lm_eval_options():
    proc = subprocess.run([sys.executable, "-m", "itbench.cli", "eval", "--help"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "--bootstrap_iters" in proc.stdout and "--model_args" in proc.stdout


def test_task_adapters_keep_no_module_level_mutable_state():
    """Caches live in the data layer and tracing (memoised by content), not in task modules."""
    offenders = []
    for path in (PACKAGE / "tasks").rglob("*.py"):
        for node in ast.parse(path.read_text()).body:
            value = node.value if isinstance(node, (ast.Assign, ast.AnnAssign)) else None
            mutable = isinstance(value, (ast.Dict, ast.List, ast.Set, ast.DictComp, ast.ListComp, ast.SetComp)) or (
                isinstance(value, ast.Call) and getattr(value.func, "id", "") in ("dict", "list", "set", "defaultdict"))
            if mutable:
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert not offenders, f"module-level mutable state in task adapters: {offenders}"


ABSOLUTE = __import__("re").compile(r"(?<![\w.<:/])/(?:work|tmp|root|home|Users|var|opt|mnt|srv|private)/|[A-Z]:\\\\")


def test_committed_leaderboards_carry_no_path_of_the_machine_that_made_them():
    board = Path(__file__).resolve().parents[1] / "leaderboard"
    found = [f"{p.relative_to(board)}: {m.group(0)!r}" for p in sorted(board.rglob("*")) if p.is_file()
             for m in [ABSOLUTE.search(p.read_text(errors="replace"))] if m]
    assert not found, found


def test_recorded_commands_are_portable(tmp_path):
    from itbench.publish import portable

    inside = tmp_path / "repo"
    cmd = (f"itbench study --base gemma-3-270m --data /srv/shared/data --out {inside}/runs/x "
           f"--leaderboard {inside}/leaderboard/g --model_args base=/root/m,lora={inside}/a")
    got = portable(cmd, cwd=inside)
    assert got == ("itbench study --base gemma-3-270m --data <data> --out runs/x --leaderboard leaderboard/g "
                   "--model_args base=<base>,lora=a"), got
    assert not ABSOLUTE.search(got)
    assert ABSOLUTE.search(cmd)  # the check sees what it must remove
    assert portable("itbench demo --leaderboard leaderboard") == "itbench demo --leaderboard leaderboard"
    from itbench import paths

    cached = portable(f"itbench leaderboard {paths.home()}/study/g/results --out x", cwd=inside)
    assert cached == "itbench leaderboard $ITBENCH_HOME/study/g/results --out x", cached
