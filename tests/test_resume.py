"""Killed runs resume: `itbench zoo build` and `itbench compare` (the demo's two long stages) are
killed with SIGKILL mid-way, then run again. What was finished is reused as it is (same bytes, not
rewritten), what was not is done, and nothing half-written is read: every checkpoint and results
file written once, whole (itbench.utils.atomic), a damaged one recomputed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from itbench import cli
from itbench.evaluate import RESULTS_FILE
from itbench.models import checkpoint


def _kill_when(argv: list[str], env: dict, ready, timeout: float = 900) -> None:
    """Start `itbench ARGV`, SIGKILL its whole process group as soon as ready() holds; fail if it
    ends first (then nothing was interrupted)."""
    proc = subprocess.Popen([sys.executable, "-m", "itbench.cli", *argv], env={**os.environ, **env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + timeout
    try:
        while not ready():
            if proc.poll() is not None:
                raise AssertionError(f"itbench {argv[0]} ended before it could be killed: "
                                     f"{proc.stderr.read().decode()[-2000:]}")
            assert time.monotonic() < deadline, "the run never reached the point to kill it at"
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL


def _stamp(path: Path) -> tuple[int, bytes]:
    return path.stat().st_mtime_ns, path.read_bytes()


def test_a_killed_zoo_build_resumes_with_what_it_finished(tiny_world, tmp_path, capsys):
    from itbench.models.zoo import default_entries
    from itbench.world import store

    tuned = [e.name for e in default_entries(store.load_config(tiny_world).it_scales, 1) if e.method != "base"][:3]
    zoo = tmp_path / "zoo"
    argv = ["zoo", "build", "--tiny", "--world", str(tiny_world), "--out", str(zoo), "--seeds", "1",
            "--only", *tuned]
    first = zoo / tuned[0] / checkpoint.MANIFEST
    _kill_when(argv, {"ITBENCH_HOME": str(tmp_path / "home")}, first.exists)
    assert not (zoo / tuned[-1]).exists(), "the build was not interrupted"
    done = {p: _stamp(p) for p in (zoo / "base" / checkpoint.MANIFEST, first)}
    weights = {p: _stamp(p) for p in (zoo / "base").glob("*.safetensors")}

    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "base: cached" in out and f"{tuned[0]}: cached" in out and f"{tuned[-1]}: built" in out, out
    for path, stamp in {**done, **weights}.items():
        assert _stamp(path) == stamp, f"{path} was rewritten"
    for name in ["base", *tuned]:
        checkpoint.check_folder(zoo / name)  # whole: config, weights, manifest


def test_a_killed_compare_resumes_and_recomputes_a_damaged_result(tiny_zoo, tiny_world, tmp_path, capsys,
                                                                   monkeypatch):
    zoo, out = tiny_zoo["dir"], tmp_path / "results"
    names = ["lora-short-1x", "full-short-1x", "full-long-4x"]
    argv = ["compare", "--zoo", str(zoo), "--world", str(tiny_world), "--out", str(out), "--limit", "4",
            "--checkpoints", *names]
    env = {"ITBENCH_HOME": str(tmp_path / "home")}
    first = out / names[0] / RESULTS_FILE
    _kill_when(argv, env, first.exists)
    assert not (out / names[-1] / RESULTS_FILE).exists() and not (out / "comparisons.md").exists()
    kept = _stamp(first)

    monkeypatch.setenv("ITBENCH_HOME", env["ITBENCH_HOME"])
    assert cli.main(argv) == 0
    assert _stamp(first) == kept, "a finished checkpoint's results were recomputed"
    assert all((out / n / RESULTS_FILE).is_file() for n in names) and (out / "comparisons.md").is_file()
    # a results file cut short (as a copy or a disk might leave it) is never read: it is recomputed
    damaged = out / names[1] / RESULTS_FILE
    damaged.write_text(damaged.read_text()[:200])
    assert cli.main(argv) == 0
    assert _stamp(first) == kept
    assert json.loads(damaged.read_text())["itbench"]["checkpoint"] == names[1]
    capsys.readouterr()


def test_a_lock_held_elsewhere_is_reported_not_waited_for(tmp_path):
    from itbench.utils import atomic

    with atomic.lock(tmp_path / ".x.lock") as first:
        assert first
        with atomic.lock(tmp_path / ".x.lock", wait=False) as second:  # another open file: another holder
            assert second is False
    with atomic.lock(tmp_path / ".x.lock", wait=False) as again:
        assert again


CLAIMING = """
import json, os, sys, time
from pathlib import Path
from itbench.utils import atomic
work = Path(sys.argv[1])
(work / f"ready.{os.getpid()}").touch()
while not (work / "go").exists():
    time.sleep(0.01)
for name in atomic.claimed([f"ckpt{i}" for i in range(6)], lambda n: work / f".{n}.lock", log=lambda m: None):
    done = work / f"{name}.done"
    if done.exists():  # the cache another process filled
        continue
    time.sleep(0.3)
    atomic.write_text(done, str(os.getpid()))
    with open(work / "log.jsonl", "a") as f:
        f.write(json.dumps([os.getpid(), name]) + "\\n")
"""


def test_two_processes_share_one_list_and_compute_each_item_once(tmp_path):
    """Two `itbench study` processes on one cache: each checkpoint is trained (evaluated) by one of
    them; the other puts it off and then finds it done."""
    script = tmp_path / "claim.py"
    script.write_text(CLAIMING)
    procs = [subprocess.Popen([sys.executable, str(script), str(tmp_path)]) for _ in range(2)]
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("ready.*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    (tmp_path / "go").touch()  # both start together
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    rows = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    names = [name for _, name in rows]
    assert sorted(names) == [f"ckpt{i}" for i in range(6)], rows  # each once, none lost
    assert len({pid for pid, _ in rows}) == 2, rows  # both did part of the work
    assert all((tmp_path / f"{n}.done").read_text().isdigit() for n in names)  # nothing half written
