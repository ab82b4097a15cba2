"""User-facing errors: one line, naming the file and the problem; the CLI prints them without a
traceback and exits non-zero."""

from __future__ import annotations


class TalkfaceError(Exception):
    """An error caused by the user's input or environment, shown as one line (exit code 1)."""

    exit_code = 1

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))  # always one line
