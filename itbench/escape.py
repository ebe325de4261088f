"""Escaping for the places itbench writes untrusted text (model names, outputs, manifest fields)
that the standard library does not cover: Markdown tables, CSV cells and XML text. One function per
sink; HTML is html.escape's."""

from __future__ import annotations

import re

# what XML 1.0 cannot hold: C0 controls but tab, newline and CR, lone surrogates (a string from a
# decoder with surrogateescape, or a model's broken output, may carry them), U+FFFE and U+FFFF
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # C0 but tab and newline, DEL, C1 (ESC starts a sequence)


def md_cell(text) -> str:
    """A Markdown table cell: pipes and newlines cannot break the table, nor raw HTML get through,
    nor terminal escape sequences (the gate prints its table)."""
    text = _CONTROL.sub(_visible, str(text).replace("\r", " ").replace("\n", " "))
    return re.sub(r"<(?=[A-Za-z/!?])", "&lt;", text).replace("|", "\\|")


def terminal(text) -> str:
    """Text for a terminal: control characters (an escape sequence's ESC among them) shown as
    \\xNN instead of acting; newlines and tabs stay."""
    return _CONTROL.sub(_visible, str(text))


def say(*parts) -> None:
    """print, with control characters from names and outputs neutralised (every command's output)."""
    print(*(terminal(p) for p in parts), flush=True)


def _visible(m: re.Match) -> str:
    return f"\\x{ord(m.group()):02x}"


def csv_cell(value):
    """A CSV cell a spreadsheet will not run as a formula (OWASP: a leading = + - @ tab or CR), and
    that cannot start a row of its own: a carriage return inside a cell is shown as \\r (the writer
    ends lines with \\n and so quotes only cells holding one; a bare CR would end the row for a
    reader, and what follows it, "=1", would start the next one)."""
    if not isinstance(value, str):
        return value
    quoted = "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
    return quoted.replace("\r", "\\r")


def xml_text(text) -> str:
    """Text with the characters XML 1.0 forbids removed (ElementTree escapes the rest), and carriage
    returns as newlines (a parser reads a CR in text as a newline anyway: so the text reads back as
    written)."""
    return _XML_FORBIDDEN.sub("", str(text)).replace("\r\n", "\n").replace("\r", "\n")
