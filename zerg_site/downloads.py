"""``Content-Disposition`` for a download whose name comes from data (a shipped file's path...).

A name is whatever a device sent: a CR or LF in it made Django refuse the header
(BadHeaderError), so that session's export failed with a 500 for good, and other control
or format characters (NUL, U+202E that flips how "exe.txt" reads) have no place in a file
name either. :func:`attachment` keeps the printable characters, quotes the ASCII fallback
(``filename=``) and gives the exact name as RFC 6266 / RFC 5987 ``filename*`` when it is
not ASCII. Every download the server sends builds its header here.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import quote

MAX_NAME = 200  # characters: longer names are cut (browsers and file systems take ~255 bytes)


_UNPRINTABLE = ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")  # controls, formats (bidi), unassigned, line breaks


def safe_filename(name: str, fallback: str = "download") -> str:
    """``name`` without control, format or line-break characters, path separators made ``_``;
    ``fallback`` if nothing is left."""
    kept = "".join(c for c in name if unicodedata.category(c) not in _UNPRINTABLE)
    kept = kept.replace("/", "_").replace("\\", "_").strip(" .")
    return kept[:MAX_NAME] or fallback


def attachment(name: str, fallback: str = "download") -> str:
    """The header value that saves the response as ``name`` (made safe)."""
    name = safe_filename(name, fallback)
    ascii_name = "".join(c if " " <= c <= "~" and c != '"' else "_" for c in name)
    if ascii_name == name:
        return f'attachment; filename="{name}"'
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"
