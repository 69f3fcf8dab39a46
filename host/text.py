"""What exechost shows of text it does not control: task keys, commands, output, messages.

Every such text goes through :func:`shown` first, in the CLI (on a terminal and in a pipe alike)
and in the HTML report, so an escape sequence in a key or in a task's output is shown as
``\\x1b[2J`` rather than clearing the screen.
"""

from __future__ import annotations

import json
import re

from exechost.tasks import TaskKey

_UNSAFE = re.compile(
    # C0 and C1 controls, DEL, bidirectional and zero-width formatting, line and paragraph
    # separators, and lone surrogates (from undecodable bytes)
    "[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ud800-\udfff]"
)
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_.:@+-]+")
"""A string key shown without quotes: it cannot be mistaken for JSON (a tuple key is an array)."""
_UNSAFE_KEEPING_NEWLINES = re.compile(_UNSAFE.pattern.replace("\x00-\x1f", "\x00-\x08\x0b-\x1f"))


def shown(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with every control or invisible formatting character written as an escape.

    :param keep_newlines: keep ``\\n`` and ``\\t`` (for multi-line messages and a task's
        output); every other character is escaped as ``\\xNN`` or ``\\uNNNN``.
    """
    pattern = _UNSAFE_KEEPING_NEWLINES if keep_newlines else _UNSAFE
    return pattern.sub(_escape, text)


def key_json(key: TaskKey) -> str | list[str | int]:
    """A key as JSON output holds it: a string, or an array for a tuple key."""
    return list(key) if isinstance(key, tuple) else key


def key_text(key: TaskKey) -> str:
    """A key as the CLI shows it: a plain string key as it is (``extract``), any other as JSON
    (``"a/b"``, ``["etl", "extract", 3]``), so that no two keys look the same."""
    if isinstance(key, str) and _PLAIN_KEY.fullmatch(key):
        return key
    return shown(json.dumps(key_json(key), ensure_ascii=False))


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
