"""Text of client origin made safe to show on one line: every character that could end a line, or make
the line read otherwise than it is stored, written as an escape. Used by error messages
(common.errors.shown) and by the log formatters (common.logs), so no text a client sent can start a log
line or reorder the words around it.

Escaped: the C0 and C1 controls (line feed, carriage return, NEL U+0085, vertical tab, form feed, the file,
group and record separators that str.splitlines() breaks on, ...), DEL, the line and paragraph separators
U+2028 and U+2029, and the format characters that change how a line reads (the bidirectional embeddings,
overrides and isolates U+202A-U+202E and U+2066-U+2069, the marks U+200E, U+200F and U+061C, zero-width
characters and the BOM). A backslash is kept as it is: an escape is told from text by the fact that the
text cannot hold these characters raw."""

from __future__ import annotations

import unicodedata

_ESCAPES = {0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"}


def _table() -> dict[int, str]:
    table: dict[int, str] = {}
    for code in [*range(0x00, 0x20), *range(0x7F, 0xA0), 0x2028, 0x2029]:
        table[code] = _ESCAPES.get(code, f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
    for code in range(0xA0, 0x10000):  # format characters (Cf) of the Basic Multilingual Plane
        if unicodedata.category(chr(code)) == "Cf":
            table[code] = f"\\u{code:04x}"
    return table


TABLE = _table()
LINE_SAFE_TABLE = {code: text for code, text in TABLE.items() if code != 0x09}  # tabs kept (logs)


def one_line(text: str, *, keep_tabs: bool = False) -> str:
    """`text` with every line-breaking, control and format character escaped (a linear str.translate)."""
    return text.translate(LINE_SAFE_TABLE if keep_tabs else TABLE)
