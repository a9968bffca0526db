"""Free text the API takes: what is storable and searchable on both databases.

Control characters (NUL above all: PostgreSQL refuses it in text) and lone surrogates (not encodable as UTF-8)
are refused wherever text is taken; free text (comments, reasons) may keep line breaks and tabs.
"""

import re

CONTROL_MESSAGE = "Control characters (such as NUL or escape sequences) are not allowed."
MAX_SEARCH = 200  # characters of a search: a substring of a name or an identifier, never longer

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_CONTROL_BUT_LINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def has_control_characters(value: str, *, multiline: bool = False) -> bool:
    """True when `value` holds a character no stored text may hold; `multiline` allows \\n, \\r and \\t."""
    return (_CONTROL_BUT_LINES if multiline else _CONTROL).search(value) is not None


def search_problem(search: str | None) -> str | None:
    """Why a search cannot be run, or None: too long to be a substring of anything, or control characters."""
    if search is None:
        return None
    if len(search) > MAX_SEARCH:
        return f"A search holds at most {MAX_SEARCH} characters."
    if has_control_characters(search):
        return CONTROL_MESSAGE
    return None


def without_control_characters(value: str) -> str:
    """`value` with every control character removed: for names others gave us (a token's), to keep, not refuse."""
    return _CONTROL.sub("", value)
