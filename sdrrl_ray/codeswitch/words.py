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
from itertools import accumulate
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
# the same tokens for a text without unspaced-script characters: whitespace | word | other char
_PLAIN_TOKEN = re.compile(rf"(\s+)|([\w{_MARKS}]+)|(.)", re.S)


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


def _longest_match(run: str, at: int, lowered: str, lexicon: Optional[Lexicon], out: list, keep_all: bool) -> None:
    """Greedy longest match of ``run`` (at offset ``at`` of the text) against ``lexicon`` keys; appends
    ``(start, end, translations|None)`` (the unmatched character clusters only when ``keep_all``)."""
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
            out.append((at + i, at + i + best, entries[lowered[i : i + best]]))
            i += best
            continue
        j = i + 1  # one character cluster
        while not _can_end(run, j):
            j += 1
        if keep_all:
            out.append((at + i, at + j, None))
        i = j


def _unspaced_spans(text: str, lexicon: Optional[Lexicon], keep_all: bool) -> list:
    entries = lexicon.entries if lexicon is not None else {}
    out: list = []
    pos = 0
    if _UNSPACED_CHAR.search(text):
        tokens = _UNSPACED_TOKEN.findall(text)  # they join to ``text``
    else:  # no run of an unspaced script: the same tokens, from a simpler pattern
        tokens = [("", *t) for t in _PLAIN_TOKEN.findall(text)]
    for run, space, word, other in tokens:
        if run:
            lowered = run.lower()
            _longest_match(run, pos, lowered if len(lowered) == len(run) else run, lexicon, out, keep_all)
            pos += len(run)
            continue
        tok = word or space or other
        hit = entries.get(word.lower()) if word else None
        if hit is not None or keep_all:
            out.append((pos, pos + len(tok), hit))
        pos += len(tok)
    return out


def _spaced_spans(text: str, lexicon: Optional[Lexicon], keep_all: bool) -> list:
    tokens = _SPACED_TOKEN.findall(text)  # they join to ``text``: a token ends at the sum of the lengths so far
    entries = lexicon.entries if lexicon is not None else {}
    max_words = lexicon.max_words if lexicon is not None else 1
    out: list = []
    if max_words == 1:  # one word per entry: every token on its own
        for tok, end in zip(tokens, accumulate(map(len, tokens))):
            first = tok[0]
            if first.isalnum() or first == "_":
                hit = entries.get(tok.lower())
                if hit is not None or keep_all:
                    out.append((end - len(tok), end, hit))
            elif keep_all:
                out.append((end - len(tok), end, None))
        return out
    i, n, pos = 0, len(tokens), 0
    while i < n:
        tok = tokens[i]
        end = pos + len(tok)
        if not (tok[0].isalnum() or tok[0] == "_"):
            if keep_all:
                out.append((pos, end, None))
            i, pos = i + 1, end
            continue
        # multi-word entries: words separated by whitespace only
        words, ends, k = [tok], [i], i
        while len(words) < max_words and k + 2 < n and tokens[k + 1].isspace() and tokens[k + 2][0].isalnum():
            k += 2
            words.append(tokens[k])
            ends.append(k)
        matched = False
        for m in range(len(words), 1, -1):
            hit = entries.get(" ".join(words[:m]).lower())
            if hit is not None:
                stop = pos + sum(len(t) for t in tokens[i : ends[m - 1] + 1])
                out.append((pos, stop, hit))
                i, pos = ends[m - 1] + 1, stop
                matched = True
                break
        if matched:
            continue
        hit = entries.get(tok.lower())
        if hit is not None or keep_all:
            out.append((pos, end, hit))
        i, pos = i + 1, end
    return out


def dictionary_words(text: str, lexicon: Lexicon, *, spaced: bool) -> list[tuple[int, int, tuple]]:
    """The dictionary words of ``text`` in order, as ``(start, end, translations)``: the tokens of
    :func:`segment` that have translations, with their offsets (what code-switching needs, without a
    tuple per space and punctuation mark)."""
    return _spaced_spans(text, lexicon, False) if spaced else _unspaced_spans(text, lexicon, False)


def segment(text: str, lexicon: Optional[Lexicon] = None, *, spaced: bool = True) -> list[tuple[str, Optional[tuple]]]:
    """Tokens of ``text`` as ``(surface, translations or None)``; ``"".join(surfaces) == text``.

    ``spaced`` is the text's language's registry flag. Without a lexicon an unspaced run falls
    apart into character clusters.
    """
    spans = _spaced_spans(text, lexicon, True) if spaced else _unspaced_spans(text, lexicon, True)
    return [(text[a:b], translations) for a, b, translations in spans]
