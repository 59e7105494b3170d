"""A Unicode tokenizer for scripts with and without spaces between words.

``tokenize(text)``: NFKC-normalize (Thai/Lao SARA AM recomposed) and lowercase; then

- a character of an unspaced script (Thai, Lao, Khmer, Myanmar, Japanese kana, CJK ideographs) is
  one token, together with the combining marks that follow it (Thai vowel and tone marks);
- a run of other letters and digits (with their combining marks) is one word token (Latin,
  Cyrillic, Hangul, ...);
- everything else (spaces, punctuation, symbols) separates tokens and is dropped.

So "The cat" -> ["the", "cat"], "猫が好き" -> ["猫", "が", "好", "き"], "แมวดำ" -> ["แ", "ม", "ว", "ด", "ำ"]
("ดำ": the sara am U+0E33 is a spacing vowel, category Lo, hence its own token). This is what ROUGE
counts (:mod:`.rouge`) and what the contamination check takes n-grams of.
"""

from __future__ import annotations

import unicodedata

# code point ranges of scripts written without spaces between words
UNSPACED_RANGES = (
    (0x0E00, 0x0E7F),  # Thai
    (0x0E80, 0x0EFF),  # Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x19E0, 0x19FF),  # Khmer symbols
    (0x3040, 0x309F),  # Hiragana
    (0x30A0, 0x30FF),  # Katakana
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFF66, 0xFF9F),  # half-width katakana (NFKC maps most of them anyway)
    (0x20000, 0x2FA1F),  # CJK extensions B-F and supplement
)


def is_unspaced(ch: str) -> bool:
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in UNSPACED_RANGES)


def _is_word_char(ch: str) -> bool:
    cat = unicodedata.category(ch)
    return cat[0] in ("L", "N", "M")


# NFKC splits Thai SARA AM (and the Lao one) into NIKHAHIT + SARA AA; put them back together
_RECOMPOSE = (("\u0e4d\u0e32", "\u0e33"), ("\u0ecd\u0eb2", "\u0eb3"))


def normalize(text: str) -> str:
    """NFKC (full-width Latin and digits become ASCII), lowercase, Thai/Lao AM kept whole."""
    text = unicodedata.normalize("NFKC", text or "").lower()
    for a, b in _RECOMPOSE:
        text = text.replace(a, b)
    return text


def tokenize(text: str) -> list[str]:
    """Tokens of ``text`` (see the module docstring)."""
    text = normalize(text)
    tokens: list[str] = []
    word: list[str] = []
    last_unspaced = False
    for ch in text:
        cat = unicodedata.category(ch)
        if cat[0] == "M" and last_unspaced and tokens:
            tokens[-1] += ch  # a combining mark belongs to the unspaced character before it
            continue
        if is_unspaced(ch) and cat[0] in ("L", "N", "M"):
            if word:
                tokens.append("".join(word))
                word = []
            tokens.append(ch)
            last_unspaced = True
            continue
        last_unspaced = False
        if _is_word_char(ch):
            word.append(ch)
        elif word:
            tokens.append("".join(word))
            word = []
    if word:
        tokens.append("".join(word))
    return tokens


def mostly_unspaced(tokens: list[str]) -> bool:
    """True when most tokens are single characters of unspaced scripts."""
    if not tokens:
        return False
    return sum(1 for t in tokens if is_unspaced(t[0])) * 2 > len(tokens)
