"""Bytes to text, one document (or one line of a table) at a time.

UTF-8 first (a byte-order mark is dropped); a document that is not valid UTF-8 is
read as cp1252 (Windows' Western encoding, a superset of latin-1's printable range
that BBC's sport/199.txt uses), else as latin-1, which maps every byte and so never
fails. Fallbacks are counted and reported once per load, with the first example,
instead of once per document.
"""

from __future__ import annotations

import warnings

from ..errors import TextrnnError

FALLBACKS = ("cp1252", "latin-1")


class Decoder:
    """Decode documents, remembering how many needed a fallback and the first one."""

    def __init__(self) -> None:
        self.fallbacks = 0
        self.example: tuple[str, str] | None = None   # (where, encoding)

    def __call__(self, raw: bytes, where: str) -> str:
        try:
            return raw.decode("utf-8-sig" if raw[:3] == b"\xef\xbb\xbf" else "utf-8")
        except UnicodeDecodeError:
            pass
        for encoding in FALLBACKS:
            try:
                text = raw.decode(encoding)
            except UnicodeDecodeError:
                continue
            self.fallbacks += 1
            if self.example is None:
                self.example = (where, encoding)
            return text
        raise TextrnnError(f"{where}: cannot decode the text")  # unreachable: latin-1 maps all bytes

    def message(self) -> str | None:
        """One line on the fallbacks, or None when every text was UTF-8."""
        if not self.fallbacks:
            return None
        where, encoding = self.example
        n = self.fallbacks
        return (f"{n} text{'s' if n > 1 else ''} not valid UTF-8, decoded with a fallback "
                f"(cp1252, else latin-1); first: {where} as {encoding}")

    def report(self) -> str | None:
        """Warn once (if anything fell back) and return the message."""
        msg = self.message()
        if msg:
            warnings.warn(msg, stacklevel=3)
        return msg

