"""Strings for the page: text from files made safe for LaTeX, and numbers as printed."""

from __future__ import annotations

import unicodedata

_TEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                "^": r"\textasciicircum{}", "<": r"\textless{}", ">": r"\textgreater{}",
                "|": r"\textbar{}"}


def tex(text) -> str:
    """Text from a file, safe inside LaTeX: specials escaped, non-ASCII transliterated."""
    out = []
    for ch in str(text):
        if ch in _TEX_SPECIAL:
            out.append(_TEX_SPECIAL[ch])
        elif 32 <= ord(ch) < 127:
            out.append(ch)
        elif ch in "\t\n\r":
            out.append(" ")
        else:
            ascii_ = unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode()
            out.append("".join(_TEX_SPECIAL.get(c, c) for c in ascii_) or "?")
    return "".join(out)


def pct(x: float) -> str:
    """A fraction as a percentage with two decimals: 0.9731 -> '97.31'."""
    return f"{100 * x:.2f}"


def points(a: float, b: float) -> str:
    """The gap between two fractions in percentage points."""
    return f"{100 * abs(a - b):.2f}"


def seconds(s) -> str:
    if s is None:
        return "--"
    return f"{s:.1f}" if s < 10 else f"{s:,.0f}"


def count(n) -> str:
    if n is None:
        return "--"
    return f"{n / 1e6:.2f}M" if n >= 1e6 else f"{n / 1e3:.1f}k" if n >= 1e3 else str(n)


def value(v) -> str:
    """A setting's value as in a table cell: numbers as written, None as 'none'."""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if v is None:
        return "none"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:g}"
    return tex(v)


def join(items: list[str]) -> str:
    """'a', 'a and b', 'a, b, and c'."""
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + ", and " + items[-1]


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("s" if n != 1 else "")


def capital(s: str) -> str:
    return s[:1].upper() + s[1:]
