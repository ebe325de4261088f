"""The gate's reports: a Markdown verdict table (also printed), JUnit XML for CI systems."""

from __future__ import annotations

import math

from itbench.escape import md_cell, xml_text
from itbench.gate.judge import PASS, Report


def _num(x: float) -> str:
    return "–" if math.isnan(x) else f"{x:.3f}"


def table(report: Report, confidence: float = 0.95) -> str:
    lines = [f"| check | task | metric | of | value [{confidence:.0%} interval] | threshold | verdict | reason |",
             "|---|---|---|---|---|---|---|---|"]
    for v in report.verdicts:
        interval = "" if math.isnan(v.low) else f" [{_num(v.low)}, {_num(v.high)}]"
        lines.append(f"| {md_cell(v.name)} | {v.task} | {v.metric} | {v.of} | {_num(v.value)}{interval} | "
                     f"{v.threshold} | {v.status.upper()} | {md_cell(v.reason)} |")
    return "\n".join(lines)


def markdown(report: Report, confidence: float = 0.95) -> str:
    verdict = "PASS" if report.passed else "FAIL"
    failed = sum(v.status != PASS for v in report.verdicts)
    return (f"# itbench gate: {verdict}\n\ncandidate {md_cell(report.candidate)} against base "
            f"{md_cell(report.base)} under policy {md_cell(report.policy)}: {len(report.verdicts) - failed} of "
            f"{len(report.verdicts)} checks passed.\n\n{table(report, confidence)}\n")


def junit(report: Report) -> str:
    import xml.etree.ElementTree as ET

    failures = sum(v.status != PASS for v in report.verdicts)
    suites = ET.Element("testsuites", name="itbench gate", tests=str(len(report.verdicts)), failures=str(failures),
                        errors="0")
    suite = ET.SubElement(suites, "testsuite", name=xml_text(f"itbench gate: {report.candidate}"),
                          tests=str(len(report.verdicts)), failures=str(failures), errors="0", skipped="0")
    ET.SubElement(ET.SubElement(suite, "properties"), "property", name="base", value=xml_text(report.base))
    for v in report.verdicts:
        case = ET.SubElement(suite, "testcase", classname=xml_text(f"itbench.gate.{report.policy}"),
                             name=xml_text(v.name))
        if v.status != PASS:
            fail = ET.SubElement(case, "failure", message=xml_text(v.reason), type="threshold")
            fail.text = xml_text(f"{v.task} {v.metric} ({v.of}) = {_num(v.value)} [{_num(v.low)}, {_num(v.high)}]; "
                                 f"needed {v.threshold}")
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"
