"""Escaping for the places itbench writes untrusted text (model names, outputs, manifest fields)
that the standard library does not cover: Markdown tables, CSV cells and XML text. One function per
sink; HTML is html.escape's."""

from __future__ import annotations

import re

_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def md_cell(text) -> str:
    """A Markdown table cell: pipes and newlines cannot break the table, nor raw HTML get through."""
    return re.sub(r"<(?=[A-Za-z/!?])", "&lt;", str(text)).replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def csv_cell(value):
    """A CSV cell a spreadsheet will not run as a formula (OWASP: a leading = + - @ tab or CR)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def xml_text(text) -> str:
    """Text with the characters XML 1.0 forbids removed (ElementTree escapes the rest)."""
    return _XML_FORBIDDEN.sub("", str(text))
