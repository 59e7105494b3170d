"""Word segmentation for code-switching: which spans of a text are dictionary words.

* spaced scripts (registry ``spaces=True``): regex word tokens; whitespace and punctuation are
  tokens too, so ``"".join(tokens) == text``. Multi-word entries (tab-separated lines of a user
  lexicon) are matched longest first, up to ``Lexicon.max_words`` words.
* unspaced scripts (ja, th, km, zh, lo): runs of those scripts are segmented by greedy longest
  match against the dictionary keys, left to right, falling back to one character cluster (a base
  character with its combining marks, so Thai/Khmer vowel and tone marks are never cut off). Runs
  of other word characters (Latin, digits) are one token each.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Optional

from sdrrl_ray.codeswitch.lexicon import Lexicon

# Scripts written without spaces between words (segmented by longest match).
_UNSPACED_RANGES = (
    (0x0E00, 0x0E7F),  # Thai
    (0x0E80, 0x0EFF),  # Lao
    (0x1780, 0x17FF),  # Khmer
    (0x19E0, 0x19FF),  # Khmer symbols
    (0x3005, 0x3007),  # 々 〆 〇
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x31F0, 0x31FF),  # Katakana extensions
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified
    (0xF900, 0xFAFF),  # CJK compatibility
    (0xFF66, 0xFF9F),  # halfwidth Katakana
    (0x20000, 0x2FA1F),  # CJK extensions B..
)
_PREPOSED = {chr(c) for c in range(0x0E40, 0x0E45)} | {chr(c) for c in range(0x0EC0, 0x0EC5)}  # Thai/Lao
_JOINERS = {"\u17d2", "\u200d"}  # Khmer coeng, zero-width joiner: the next character belongs to the cluster
_SPACED_TOKEN = re.compile(r"[\w\u0300-\u036f]+(?:['’][\w\u0300-\u036f]+)*|\s+|[^\w\s]+")


_UNSPACED_CLASS = "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in _UNSPACED_RANGES)
_MARKS = "\u0300-\u036f\u1ab0-\u1aff\u20d0-\u20ff\ufe00-\ufe0f\u200c\u200d"
# one token class per alternative: unspaced-script run | whitespace | spaced-script word | other char
_UNSPACED_TOKEN = re.compile(
    rf"([{_UNSPACED_CLASS}][{_UNSPACED_CLASS}{_MARKS}]*)|(\s+)|((?:(?![{_UNSPACED_CLASS}])[\w{_MARKS}])+)|(.)",
    re.S,
)
_UNSPACED_CHAR = re.compile(f"[{_UNSPACED_CLASS}]")


def spaced_word_char(ch: str) -> bool:
    """A letter or digit of a script that separates words with spaces."""
    return ch.isalnum() and not _UNSPACED_CHAR.match(ch)


def _can_end(run: str, j: int) -> bool:
    """May a token of ``run`` end at position ``j``? Not inside a character cluster."""
    if j >= len(run):
        return True
    prev = run[j - 1]
    if prev in _PREPOSED or prev in _JOINERS or run[j] in _JOINERS:
        return False
    return unicodedata.category(run[j]) not in ("Mn", "Mc", "Me")


def _longest_match(run: str, lowered: str, lexicon: Optional[Lexicon], out: list) -> None:
    """Greedy longest match of ``run`` against ``lexicon`` keys; appends ``(token, translations|None)``."""
    prefixes = lexicon.prefixes if lexicon is not None else frozenset()
    entries = lexicon.entries if lexicon is not None else {}
    i, n = 0, len(run)
    while i < n:
        best = 0
        j = i + 1
        while j <= n and lowered[i:j] in prefixes:
            if lowered[i:j] in entries and _can_end(run, j):
                best = j - i
            j += 1
        if best:
            out.append((run[i : i + best], entries[lowered[i : i + best]]))
            i += best
            continue
        j = i + 1  # one character cluster
        while not _can_end(run, j):
            j += 1
        out.append((run[i:j], None))
        i = j


def _segment_unspaced(text: str, lexicon: Optional[Lexicon]) -> list:
    out: list = []
    for m in _UNSPACED_TOKEN.finditer(text):
        run, word = m.group(1), m.group(3)
        if run is not None:
            lowered = run.lower()
            _longest_match(run, lowered if len(lowered) == len(run) else run, lexicon, out)
        elif word is not None:
            out.append((word, lexicon.lookup(word) if lexicon is not None else None))
        else:
            out.append((m.group(0), None))
    return out


def _segment_spaced(text: str, lexicon: Optional[Lexicon]) -> list:
    tokens = _SPACED_TOKEN.findall(text)
    if lexicon is None:
        return [(t, None) for t in tokens]
    out: list = []
    max_words = lexicon.max_words
    i, n = 0, len(tokens)
    while i < n:
        tok = tokens[i]
        if not (tok[0].isalnum() or tok[0] == "_"):
            out.append((tok, None))
            i += 1
            continue
        if max_words > 1:  # multi-word entries: words separated by whitespace only
            words, ends, k = [tok], [i], i
            while len(words) < max_words and k + 2 < n and tokens[k + 1].isspace() and tokens[k + 2][0].isalnum():
                k += 2
                words.append(tokens[k])
                ends.append(k)
            matched = False
            for m in range(len(words), 1, -1):
                hit = lexicon.lookup(" ".join(words[:m]))
                if hit is not None:
                    out.append(("".join(tokens[i : ends[m - 1] + 1]), hit))
                    i = ends[m - 1] + 1
                    matched = True
                    break
            if matched:
                continue
        out.append((tok, lexicon.lookup(tok)))
        i += 1
    return out


def segment(text: str, lexicon: Optional[Lexicon] = None, *, spaced: bool = True) -> list[tuple[str, Optional[tuple]]]:
    """Tokens of ``text`` as ``(surface, translations or None)``; ``"".join(surfaces) == text``.

    ``spaced`` is the text's language's registry flag. Without a lexicon an unspaced run falls
    apart into character clusters.
    """
    return _segment_spaced(text, lexicon) if spaced else _segment_unspaced(text, lexicon)
