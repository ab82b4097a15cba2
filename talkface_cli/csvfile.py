"""CSV files as users hand them over: written by scripts, or saved from a spreadsheet (a UTF-8
byte-order mark, CRLF, `;` between cells and a decimal comma where the locale writes 0,5)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from .errors import TalkfaceError


def read_rows(path: Path, what: str) -> list[list[str]]:
    """The rows of a CSV file (the header first), its cells split on whichever of `,` `;` or tab
    the header line holds most; `what` names the file in errors ("the labels CSV")."""
    lines = text_lines(Path(path), what, "save it as 'CSV UTF-8'")
    delimiter = max(",;\t", key=lines[0].count) if lines else ","
    try:
        return list(csv.reader(lines, delimiter=delimiter))
    except csv.Error as e:
        raise TalkfaceError(f"{path}: cannot read {what} ({e})") from None


def text_lines(path: Path, what: str, hint: str) -> list[str]:
    """The lines of a UTF-8 text file (a byte-order mark allowed); a one-line error naming `what`,
    with `hint`, for another encoding (UTF-16, as Notepad's "Unicode" saves it)."""
    try:
        return path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError:
        raise TalkfaceError(f"{path}: {what} is not UTF-8 text ({hint})") from None
    except OSError as e:
        raise TalkfaceError(f"{path}: cannot read {what} ({e.strerror or e})") from None


def number(cell: str) -> float:
    """A cell as a number, with a decimal point or a decimal comma ("0,5": a `;` CSV from a
    spreadsheet in a locale that writes it so). ValueError if it is none, or NaN or infinite."""
    value = float(cell.strip().replace(",", "."))
    if not math.isfinite(value):
        raise ValueError(f"{cell!r} is not a finite number")
    return value
