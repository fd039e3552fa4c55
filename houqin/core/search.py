"""Search helpers: pinyin initials and full pinyin for Chinese text ("dn" and "diannao" find 电脑)."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from pypinyin import Style, lazy_pinyin


@lru_cache(maxsize=4096)
def pinyin_forms(text: str) -> tuple[str, str]:
    """Return (initials, full pinyin) of text, lower-case; non-Chinese characters are kept as they are."""
    if not text:
        return "", ""
    initials = "".join(lazy_pinyin(text, style=Style.FIRST_LETTER, errors="default")).lower()
    full = "".join(lazy_pinyin(text, style=Style.NORMAL, errors="default")).lower()
    return initials, full


def build_search_index(parts: Iterable[str]) -> str:
    """One lower-case string holding each part, its pinyin initials and its full pinyin."""
    pieces: list[str] = []
    for part in parts:
        part = part.strip()
        if not part:
            continue
        initials, full = pinyin_forms(part)
        pieces.extend(p for p in (part.lower(), initials, full) if p)
    return " | ".join(dict.fromkeys(pieces))


def normalise_query(query: str) -> str:
    return " ".join(query.split()).lower()
