"""Rule filters on one (source, translation) pair; each failure has its own reject reason:
``empty``, ``copy_of_source``, ``repetition_loop``, ``length_ratio``, ``truncated`` (checked in
that order; the filter stage puts language-ID between ``copy_of_source`` and ``repetition_loop``).
The rules, their thresholds and what they were measured on: ``docs/translation-filters.md``.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Optional

from sdrrl_ray import languages
from sdrrl_ray.mt.segment import split_into_sentences, strip_protected

# characters per unit of meaning relative to Latin script (see the module docstring)
SCRIPT_DENSITY = {"Latn": 1.0, "Cyrl": 1.0, "Thai": 1.0, "Laoo": 1.0, "Khmr": 1.1, "Jpan": 0.5, "Hang": 0.5,
                  "Hans": 0.35, "Hant": 0.35}
RATIO_SMOOTHING = 10.0
NO_TERMINAL_PUNCT = ("Thai", "Laoo", "Khmr")  # scripts whose sentences often end without a mark
_TERMINAL = re.compile(r"[.!?。！？｡។៕…؟।]$")
_CLOSERS = "\"'’”»)]}」』）】〉》"
_DANGLING = re.compile(r"[,、，:;：；(\[{「『（【〈《\-–—]$")
_PAIRS = (("(", ")"), ("「", "」"), ("『", "』"), ("（", "）"), ("[", "]"), ("“", "”"), ("【", "】"))
_ALNUM = re.compile(r"[^\W_]")
_PUNCT_SPACE = re.compile(r"[\W_]+")


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: Optional[str] = None
    detail: Optional[str] = None


OK = Verdict(True)


def _reject(reason: str, detail: str) -> Verdict:
    return Verdict(False, reason, detail)


def check_rules(src: str, tgt: str, src_lang: str, tgt_lang: str, *, min_length_ratio: float = 0.2,
                max_length_ratio: float = 5.0, max_repeat_ngram: int = 4) -> Verdict:
    """The first rule ``tgt`` (translation of ``src``) fails, or :data:`OK`."""
    verdict = check_basic(src, tgt)
    if not verdict.ok:
        return verdict
    return check_form(src, tgt, src_lang, tgt_lang, min_length_ratio=min_length_ratio,
                      max_length_ratio=max_length_ratio, max_repeat_ngram=max_repeat_ngram)


def check_basic(src: str, tgt: str) -> Verdict:
    """``empty`` and ``copy_of_source`` (the filter stage runs language-ID between these and the rest)."""
    verdict = check_empty(src, tgt)
    if not verdict.ok:
        return verdict
    return check_copy(strip_protected(src), strip_protected(tgt))


def check_form(src: str, tgt: str, src_lang: str, tgt_lang: str, *, min_length_ratio: float = 0.2,
               max_length_ratio: float = 5.0, max_repeat_ngram: int = 4) -> Verdict:
    """``repetition_loop``, ``length_ratio``, ``truncated``."""
    src_clean, tgt_clean = strip_protected(src), strip_protected(tgt)
    for verdict in (
        check_repetition(src_clean, tgt_clean, src_lang, tgt_lang, max_repeat_ngram),
        check_length_ratio(src_clean, tgt_clean, src_lang, tgt_lang, min_length_ratio, max_length_ratio),
        check_truncated(src, tgt, src_lang, tgt_lang),
    ):
        if not verdict.ok:
            return verdict
    return OK


def check_empty(src: str, tgt: str) -> Verdict:
    if not _ALNUM.search(tgt or "") and _ALNUM.search(src or ""):
        return _reject("empty", "the translation has no letters or digits")
    return OK


def _norm(text: str) -> str:
    return _PUNCT_SPACE.sub(" ", text.casefold()).strip()


def check_copy(src_clean: str, tgt_clean: str) -> Verdict:
    s, t = _norm(src_clean), _norm(tgt_clean)
    if not any(c.isalpha() for c in s):
        return OK  # nothing translatable: a copy is the right answer
    if s == t:
        return _reject("copy_of_source", "the translation is the source text unchanged")
    if len(s) >= 20 and len(s) + len(t) < 8000:
        ratio = difflib.SequenceMatcher(None, s, t, autojunk=False).ratio()
        if ratio >= 0.9:
            return _reject("copy_of_source", f"the translation is {ratio:.0%} identical to the source")
    return OK


def _units(text: str, lang: str) -> list[str]:
    if languages.get(lang).spaces:
        return [w for w in (_PUNCT_SPACE.sub("", w.casefold()) for w in text.split()) if w]
    return [c for c in text if not c.isspace()]


def max_tandem_repeat(units: list, max_n: int) -> tuple[int, int]:
    """(copies, n): the most consecutive copies of any n-gram (n <= max_n) that contains a letter."""
    best, best_n = 1, 0
    size = len(units)
    has_letter = [any(ch.isalpha() for ch in str(u)) for u in units]
    for n in range(1, min(max_n, size // 2) + 1):
        run = 0
        for i in range(size - n):
            if units[i] == units[i + n]:
                run += 1
                copies = run // n + 1
                if copies > best and any(has_letter[i - run + 1: i - run + 1 + n]):
                    best, best_n = copies, n
            else:
                run = 0
    return best, best_n


def _repeats(text: str, lang: str) -> tuple[int, str]:
    spaced = languages.get(lang).spaces
    units = _units(text, lang)
    copies, n = max_tandem_repeat(units, 8 if spaced else 30)
    sentences = [s for s, _ in split_into_sentences(text, lang)] if text else []
    s_copies, s_n = max_tandem_repeat(sentences, 3)
    if s_copies > copies:
        return s_copies, f"{s_n} sentence(s)"
    return copies, f"{n} {'word' if spaced else 'character'}(s)"


def check_repetition(src_clean: str, tgt_clean: str, src_lang: str, tgt_lang: str, max_repeat: int) -> Verdict:
    copies, what = _repeats(tgt_clean, tgt_lang)
    if copies <= max_repeat:
        return OK
    src_copies, _ = _repeats(src_clean, src_lang)
    if src_copies > max_repeat:
        return OK  # the source repeats too
    return _reject("repetition_loop", f"{what} repeated {copies} times in a row (limit {max_repeat})")


def adjusted_length(text: str, lang: str) -> float:
    chars = sum(1 for c in text if not c.isspace())
    return chars / SCRIPT_DENSITY.get(languages.get(lang).script, 1.0)


def length_ratio(src_clean: str, tgt_clean: str, src_lang: str, tgt_lang: str) -> float:
    return ((adjusted_length(tgt_clean, tgt_lang) + RATIO_SMOOTHING)
            / (adjusted_length(src_clean, src_lang) + RATIO_SMOOTHING))


def check_length_ratio(src_clean: str, tgt_clean: str, src_lang: str, tgt_lang: str, lo: float, hi: float) -> Verdict:
    ratio = length_ratio(src_clean, tgt_clean, src_lang, tgt_lang)
    if ratio < lo or ratio > hi:
        return _reject("length_ratio", f"script-adjusted length ratio {ratio:.2f} outside [{lo}, {hi}]")
    return OK


def _strip_closers(text: str) -> str:
    return text.rstrip().rstrip(_CLOSERS).rstrip()


def check_truncated(src: str, tgt: str, src_lang: str, tgt_lang: str) -> Verdict:
    src_tail = src.rstrip().splitlines()[-1] if src.strip() else ""
    tgt_tail = tgt.rstrip().splitlines()[-1] if tgt.strip() else ""
    if "`" in src_tail or "://" in src_tail or "`" in tgt_tail:
        return OK  # ends in code or a URL: not judged
    tgt_end = tgt.rstrip()
    if _DANGLING.search(tgt_end) and not _DANGLING.search(src.rstrip()):
        return _reject("truncated", f"the translation ends with {tgt_end[-1]!r}")
    for opening, closing in _PAIRS:
        if tgt.count(opening) > tgt.count(closing) and src.count(opening) <= src.count(closing):
            return _reject("truncated", f"the translation leaves {opening!r} open")
    if tgt.count('"') % 2 and not src.count('"') % 2:
        return _reject("truncated", "the translation leaves a '\"' open")
    if languages.get(tgt_lang).script in NO_TERMINAL_PUNCT:
        return OK
    tgt_end = tgt.rstrip()
    if tgt_end and tgt_end[-1] in _CLOSERS:
        return OK  # a closing quote or bracket ends a sentence too (Japanese 「...」)
    if _TERMINAL.search(_strip_closers(src)) and not _TERMINAL.search(tgt_end):
        return _reject("truncated", "the source ends a sentence, the translation stops mid-sentence")
    return OK
