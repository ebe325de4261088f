"""The docs a user reads: every relative link in the README, the changelog and docs/ resolves
(files and heading anchors), every command of the README's tour is a real command, the README
stays short, and no doc reads like a work log."""
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md")),
        *sorted((ROOT / "itbench" / "tasks").glob("*/README.md"))]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.M | re.S)


def slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    return {slug(m.group(1)) for m in re.finditer(r"^#{1,6} +(.+?) *$", text, re.M)}


def links(path: Path) -> list[str]:
    return [m.group(1) for m in LINK.finditer(FENCE.sub("", path.read_text(encoding="utf-8")))]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(doc):
    bad = []
    for target in links(doc):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...
            continue
        file, _, anchor = target.partition("#")
        dest = (doc.parent / file).resolve() if file else doc
        if not dest.exists():
            bad.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            bad.append(f"{target}: no heading '{anchor}' in {dest.relative_to(ROOT)}")
    assert not bad, bad


def test_the_link_check_catches_a_broken_link(tmp_path):
    (tmp_path / "a.md").write_text("# Top\n\n[ok](b.md#there) [gone](c.md) [anchor](b.md#nowhere)\n")
    (tmp_path / "b.md").write_text("# There\n")
    found = links(tmp_path / "a.md")
    assert found == ["b.md#there", "c.md", "b.md#nowhere"]
    assert "there" in anchors(tmp_path / "b.md") and "nowhere" not in anchors(tmp_path / "b.md")
    assert slug("A real model: the paper's study (`itbench study`)") == "a-real-model-the-papers-study-itbench-study"


def tour_commands() -> list[list[str]]:
    """Each command line of the fenced shell blocks between the README's tour markers, as argv."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    tour = text[text.index("<!-- tour -->"):text.index("<!-- /tour -->")]
    commands = []
    for block in re.findall(r"^```bash\n(.*?)^```", tour, re.M | re.S):
        for line in block.splitlines():
            line = line.split(" # ")[0].strip()
            if line and not line.startswith("#"):
                commands.append(shlex.split(line))
    return commands


def test_every_tour_command_is_a_real_command():
    commands = tour_commands()
    assert len(commands) >= 6, commands  # demo, gate x2, eval x2, leaderboard, finetune, study
    bin_dir = Path(sys.executable).parent
    for argv in commands:
        assert argv[0].startswith(".venv/bin/"), f"the tour runs the installed commands: {argv[0]}"
        exe = bin_dir / argv[0].removeprefix(".venv/bin/")
        words = []
        for token in argv[1:]:
            if not re.fullmatch(r"[a-z][a-z-]*", token):
                break
            words.append(token)
        got = subprocess.run([str(exe), *words, "--help"], capture_output=True, text=True, timeout=300)
        assert got.returncode == 0, (argv, got.stderr[-2000:])
        for flag in (t.split("=")[0] for t in argv if t.startswith("--")):
            assert flag in got.stdout, f"{' '.join(argv[:2])} has no flag {flag}"


def test_the_readme_is_short_and_opens_with_the_two_commands():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 250
    first = re.search(r"^```bash\n(.*?)^```", text, re.M | re.S).group(1).splitlines()
    assert first[0].startswith("bash scripts/setup.sh && .venv/bin/itbench demo")
    assert first[1].startswith(".venv/bin/python -m pytest")
    assert (ROOT / "scripts" / "setup.sh").exists()


@pytest.mark.parametrize("doc", [d for d in DOCS if d.name != "CHANGELOG.md"], ids=lambda p: str(p.relative_to(ROOT)))
def test_docs_state_the_current_state_not_a_work_log(doc):
    text = doc.read_text(encoding="utf-8")
    log = r"\bsession \d+|\bsessions?\b[^.\n]{0,20}\b(?:ago|earlier|before)|\bwork period\b|\bstop \d+"
    found = re.findall(log, text, re.I)
    assert not found, found
