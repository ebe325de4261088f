"""`itbench findings`: the paper's findings from a findings.json (itbench.findings) as Markdown or
into a README, compared with another run's, or agreed over several runs."""

from __future__ import annotations

import json
from pathlib import Path

from itbench.errors import ItbenchError
from itbench.escape import say


def cmd_findings(args) -> int:
    from itbench import findings, findings_sets
    from itbench.utils import atomic

    found = findings.read(args.file)
    if args.agree:
        files = [args.file, *args.agree]
        labels = args.labels or files
        if len(labels) != len(files) or not args.out:
            raise ItbenchError("--agree takes --out FILE, and --labels (if given) one per findings file "
                               f"({len(files)}: the first file and each --agree file)")
        out = atomic.check_output_file(args.out, files, flag="--out")
        agreed = findings_sets.agree([found, *(findings.read(f) for f in args.agree)], labels)
        atomic.write_text(out, json.dumps(agreed, indent=2) + "\n")
        same = sum(f["verdict"] != findings.DIFFERS for f in agreed)
        say(f"{out}: {len(agreed)} findings in all {len(files)} runs, {same} with one verdict in every run, "
            f"{len(agreed) - same} differing across runs")
        return 0
    if args.compare:
        c = findings_sets.compare(found, findings.read(args.compare))
        for f, g in c["differ"]:
            say(f"differs: {f['finding']} ({' vs '.join(f['checkpoints'])}): {f['verdict']} ({f['estimate']}) -> "
                f"{g['verdict']} ({g['estimate']})")
        say(f"{len(c['same'])} verdicts the same, {len(c['differ'])} differ ({len(c['reversed'])} reversed), "
            f"{len(c['missing'])} missing from {args.compare}")
        return 0
    if args.beside:
        table = findings_sets.side_by_side(findings.read(args.beside), found, args.label or args.file)
        if not args.readme:
            say(table.rstrip())
            return 0
        path = Path(args.readme)
        try:
            text = findings_sets.sync_beside(path.read_text(encoding="utf-8"), table, args.file, args.beside)
        except (OSError, ValueError) as err:
            raise ItbenchError(f"{path}: {err}") from err
        atomic.write_text(path, text)
        say(f"{path}: side-by-side section rewritten from {args.file} beside {args.beside}")
        return 0
    if not args.readme:
        say(findings.render_markdown(found).rstrip())
        return 0
    path = Path(args.readme)
    try:
        text = findings.sync_readme(path.read_text(encoding="utf-8"), found, source=args.file)
    except (OSError, ValueError) as err:
        raise ItbenchError(f"{path}: {err}") from err
    atomic.write_text(path, text)
    say(f"{path}: findings section rewritten from {args.file} ({len(found)} findings)")
    return 0


def add_commands(sub) -> None:
    fd = sub.add_parser("findings", help="the paper's findings from a findings.json, as Markdown (or into a README)")
    fd.add_argument("file", help="a findings.json (itbench demo writes one into its leaderboard folder)")
    fd.add_argument("--readme", help="rewrite this file's findings section (between its findings markers)")
    fd.add_argument("--compare", help="another findings.json (another machine, thread count or --base-seed): "
                                      "which verdicts agree, differ or reverse")
    fd.add_argument("--beside", help="the world zoo's findings.json: one table of each question with the world's "
                                     "verdict, this file's and the paper's (with --readme, into its section)")
    fd.add_argument("--label", help="the column name of this file's findings with --beside (e.g. gemma-3-270m)")
    fd.add_argument("--agree", nargs="+", help="more findings.json files of the same study (other machines or thread "
                                               "counts): write with --out one findings file whose verdicts are kept "
                                               "only where every run gives the same one")
    fd.add_argument("--labels", nargs="+", help="with --agree: a name for each run (the first file, then each --agree)")
    fd.add_argument("--out", help="with --agree: the findings file to write")
    fd.set_defaults(func=cmd_findings)
