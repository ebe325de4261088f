"""Escaping for every place itbench writes untrusted text (model names, outputs, manifest fields):
HTML, Markdown tables, CSV cells, XML and the terminal. One function per sink."""

from __future__ import annotations

import html
import re

_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_TERMINAL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|[\x00-\x08\x0b-\x1f\x7f]")


def html_text(text) -> str:
    """Text or an attribute value inside HTML (quotes escaped too)."""
    return html.escape(str(text), quote=True)


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


def terminal(text) -> str:
    """Text with escape sequences and control characters neutralised, for printing."""
    return _TERMINAL.sub("?", str(text))
