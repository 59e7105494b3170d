"""Code-switching of questions with bilingual (MUSE-format) dictionaries (paper-spec 2.6).

Each question word found in the dictionary of the question's direction is replaced, independently
with probability ``p`` (paper: 0.15), by one of its dictionary translations; other words are never
touched, answers are never touched. Direction: a source-language question uses the src->tgt
dictionary, a translated (target-language) question the tgt->src one.

Segmentation
    * spaced scripts (registry ``spaces=True``): regex word tokens; whitespace and punctuation are
      tokens too, so ``"".join(tokens) == text``. Multi-word entries (tab-separated lines of a
      user lexicon) are matched longest first, up to ``Lexicon.max_words`` words.
    * unspaced scripts (ja, th, km, zh, lo): runs of those scripts are segmented by greedy longest
      match against the dictionary keys, left to right, falling back to one character cluster (a
      base character with its combining marks, so Thai/Khmer vowel and tone marks are never cut
      off). Runs of other word characters (Latin, digits) are one token each.

Spacing choice
    The text's own whitespace is always kept. A replacement written in a spaced script inside
    unspaced text (``猫`` -> ``cat`` in Japanese) gets a space on a side only where it would
    otherwise touch another letter or digit of a spaced script (``猫犬`` -> ``cat dog``, but
    ``私は猫が好き`` -> ``私はcatが好き``). Replacements into an unspaced script inside spaced text
    need nothing: the words around them keep their spaces (``I like 猫``).

Case
    Lookup is case-insensitive (keys are lowercased). A replacement in a cased script follows the
    replaced word's case: ``Dog`` -> ``Chó``, ``DOG`` -> ``CHÓ``; lowercase entries stay lowercase.

Identity pairs (``was was``: about a quarter of the public en-ja file) are dropped when a dictionary
is loaded, because replacing a word by itself is no code-switch; they are counted in
``Lexicon.n_identity``.

Randomness is per row, from ``seeding.row_rng(seed, row_id, "code_switch")``; results never depend on
how rows are batched.
"""

from __future__ import annotations

import os
import random
import re
import unicodedata
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Iterable, Mapping, Optional

import numpy as np

from sdrrl_ray import languages as langs
from sdrrl_ray.errors import UserError
from sdrrl_ray.seeding import row_rng

__all__ = [
    "Lexicon",
    "CodeSwitcher",
    "load_muse",
    "dictionary_path",
    "dictionary_plan",
    "load_lexicons",
    "segment",
    "code_switch_text",
    "code_switch",
    "INPUT_COLUMNS",
    "OUTPUT_COLUMNS",
]

INPUT_COLUMNS = {
    "id": "stable row id (seeds the row's randomness)",
    "question": "question text to code-switch",
    "question_lang": "ISO 639-1 language of the question",
    "src_lang": "source language of the pair",
    "tgt_lang": "target language of the pair",
}
OUTPUT_COLUMNS = {
    "question": "the question with dictionary words switched",
    "n_switched": "words replaced in this row",
    "switch_candidates": "dictionary words found in this row (each one replaced with probability p)",
    "switch_dict": "dictionary used (its name), 'none' when the direction has none, 'off' for rows not switched",
}

# Subsets whose questions are code-switched (paper: the four language combinations, not mt/comp).
SWITCHED_SUBSETS = ("LL", "TL", "LT", "TT")


# --------------------------------------------------------------------------------------------
# dictionaries


@dataclass(frozen=True, eq=False)
class Lexicon:
    """A bilingual dictionary: lowercased source entry -> its translations (file order, no duplicates)."""

    entries: Mapping[str, tuple[str, ...]]
    max_words: int = 1  # longest entry in words (multi-word entries only from tab-separated lines)
    max_chars: int = 1  # longest entry in characters (bounds the unspaced longest match)
    name: str = ""  # shown in manifests and the ``switch_dict`` column, e.g. "en-ja.txt"
    n_lines: int = 0
    n_skipped: int = 0  # blank or malformed lines
    n_identity: int = 0  # pairs whose translation equals the entry (dropped)
    skipped_lines: tuple[int, ...] = field(default=())  # line numbers of malformed lines (first 100)

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str]], name: str = "") -> "Lexicon":
        """Build from ``(source, target)`` pairs; identity pairs are dropped and counted."""
        entries: dict[str, list[str]] = {}
        identity = 0
        for src, tgt in pairs:
            key = src.strip().lower()
            tgt = tgt.strip()
            if not key or not tgt:
                continue
            if tgt.lower() == key:
                identity += 1
                continue
            targets = entries.setdefault(key, [])
            if tgt not in targets:
                targets.append(tgt)
        frozen = {k: tuple(v) for k, v in entries.items()}
        return cls(
            entries=frozen,
            max_words=max((len(k.split()) for k in frozen), default=1),
            max_chars=max((len(k) for k in frozen), default=1),
            name=name,
            n_identity=identity,
        )

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, word: str) -> bool:
        return word.lower() in self.entries

    def lookup(self, word: str) -> Optional[tuple[str, ...]]:
        """Translations of ``word`` (case-insensitive), or None."""
        return self.entries.get(word.lower())

    def inverted(self) -> "Lexicon":
        """The reverse-direction dictionary (used when only one direction's file exists)."""
        pairs = [(t, s) for s, targets in self.entries.items() for t in targets]
        return Lexicon.from_pairs(pairs, name=f"inverted:{self.name}")

    @cached_property
    def prefixes(self) -> frozenset:
        """Every prefix of every entry: lets the longest match stop as soon as no entry can continue."""
        return frozenset(k[:i] for k in self.entries for i in range(1, len(k) + 1))


def load_muse(path: str | os.PathLike, name: Optional[str] = None, *, max_words: Optional[int] = None) -> Lexicon:
    """Read a MUSE dictionary: one ``source target`` pair per line, split on the first whitespace.

    A line containing a tab is split on its first tab instead, so user lexicons can hold multi-word
    entries (``ice cream<TAB>アイスクリーム``); ``max_words`` (``code_switch.max_ngram``) caps how
    many words such an entry may span when matched. Several lines per source word are kept (the
    row's RNG chooses among them). Blank and malformed lines are skipped and counted.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise UserError(f"dictionary file {path} does not exist; check code_switch.dictionaries")
    pairs: list[tuple[str, str]] = []
    skipped: list[int] = []
    n_lines = 0
    try:
        with open(path, encoding="utf-8-sig") as fh:
            for n_lines, line in enumerate(fh, start=1):
                line = line.rstrip("\r\n")
                parts = line.split("\t", 1) if "\t" in line else line.strip().split(None, 1)
                if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
                    skipped.append(n_lines)
                    continue
                pairs.append((parts[0], parts[1]))
    except UnicodeDecodeError as exc:
        raise UserError(f"dictionary file {path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    lex = Lexicon.from_pairs(pairs, name=name or os.path.basename(path))
    return Lexicon(
        entries=lex.entries,
        max_words=min(lex.max_words, max_words) if max_words else lex.max_words,
        max_chars=lex.max_chars,
        name=lex.name,
        n_lines=n_lines,
        n_skipped=len(skipped),
        n_identity=lex.n_identity,
        skipped_lines=tuple(skipped[:100]),
    )


def _file_codes(iso: str) -> list[str]:
    lang = langs.REGISTRY.get(iso)
    codes = [lang.muse] if lang is not None and lang.muse else []
    return codes + ([iso] if iso not in codes else [])


def dictionary_path(folder: str | os.PathLike | None, src_iso: str, tgt_iso: str) -> Optional[str]:
    """``folder/<src>-<tgt>.txt`` with MUSE file codes (``nb`` -> ``no``), or None when missing.

    The ISO code itself is also tried, so a user-supplied dictionary for a language without a public
    MUSE file (Khmer: ``en-km.txt``) is found the same way.
    """
    if not folder:
        return None
    for a in _file_codes(src_iso):
        for b in _file_codes(tgt_iso):
            path = os.path.join(os.fspath(folder), f"{a}-{b}.txt")
            if os.path.isfile(path):
                return path
    return None


def _resolve(folder: Any, from_iso: str, to_iso: str) -> tuple[Optional[str], bool]:
    """(path, inverted): the file for the direction, else the reverse file to invert."""
    path = dictionary_path(folder, from_iso, to_iso)
    if path is not None:
        return path, False
    reverse = dictionary_path(folder, to_iso, from_iso)
    return (reverse, True) if reverse is not None else (None, False)


def dictionary_plan(folder: str | os.PathLike | None, source: str, targets: Iterable[str]) -> dict:
    """Per target, which dictionary serves each direction: a path, ``inverted:<path>`` or ``"none"``.

    For the manifest: ``{"ja": {"en->ja": ".../en-ja.txt", "ja->en": ".../ja-en.txt"},
    "km": {"en->km": "none", "km->en": "none"}}``.
    """
    plan = {}
    for tgt in targets:
        plan[tgt] = {}
        for a, b in ((source, tgt), (tgt, source)):
            path, inverted = _resolve(folder, a, b)
            plan[tgt][f"{a}->{b}"] = "none" if path is None else (f"inverted:{path}" if inverted else path)
    return plan


def load_lexicons(
    folder: str | os.PathLike | None, source: str, targets: Iterable[str], *, max_words: Optional[int] = None
) -> dict:
    """``{(from_lang, to_lang): Lexicon or None}`` for both directions of every target.

    A direction without its own file uses the reverse file inverted (as :func:`dictionary_plan` says).
    """
    out: dict[tuple[str, str], Optional[Lexicon]] = {}
    for tgt in targets:
        for a, b in ((source, tgt), (tgt, source)):
            path, inverted = _resolve(folder, a, b)
            lex = None if path is None else load_muse(path, max_words=max_words)
            out[(a, b)] = lex.inverted() if (lex is not None and inverted) else lex
    return out


# --------------------------------------------------------------------------------------------
# segmentation

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


def _spaced_word_char(ch: str) -> bool:
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


# --------------------------------------------------------------------------------------------
# switching


def _match_case(surface: str, replacement: str) -> str:
    if not any(c.isupper() or c.islower() for c in replacement):
        return replacement
    if len(surface) > 1 and surface.isupper():
        return replacement.upper()
    if surface[:1].isupper() and replacement[:1].islower():
        return replacement[:1].upper() + replacement[1:]
    return replacement


def code_switch_text(
    text: str, lexicon: Optional[Lexicon], *, p: float, rng: random.Random, spaced: bool
) -> tuple[str, int, int, list[tuple[str, str]]]:
    """Replace each dictionary word of ``text`` with probability ``p`` by one of its translations.

    Returns ``(new_text, n_switched, n_candidates, [(original, replacement), ...])``. ``spaced`` is
    whether the text's language separates words with spaces (see the module docstring for spacing).

    >>> lex = Lexicon.from_pairs([("cat", "猫"), ("dog", "犬")], name="toy")
    >>> code_switch_text("My Cat and dog.", lex, p=1.0, rng=random.Random(0), spaced=True)
    ('My 猫 and 犬.', 2, 2, [('Cat', '猫'), ('dog', '犬')])
    """
    if lexicon is None or not text:
        return text, 0, 0, []
    pieces: list[str] = []
    replaced: list[bool] = []
    replacements: list[tuple[str, str]] = []
    candidates = 0
    for surface, translations in segment(text, lexicon, spaced=spaced):
        if translations is None:
            pieces.append(surface)
            replaced.append(False)
            continue
        candidates += 1
        if rng.random() < p:
            choice = translations[0] if len(translations) == 1 else rng.choice(translations)
            choice = _match_case(surface, choice)
            pieces.append(choice)
            replaced.append(True)
            replacements.append((surface, choice))
        else:
            pieces.append(surface)
            replaced.append(False)
    if not replacements:
        return text, 0, candidates, []
    if spaced:
        return "".join(pieces), len(replacements), candidates, replacements
    out = [pieces[0]]
    for k in range(1, len(pieces)):
        prev, cur = pieces[k - 1], pieces[k]
        touching = prev and cur and _spaced_word_char(prev[-1]) and _spaced_word_char(cur[0])
        if touching and (replaced[k - 1] or replaced[k]):
            out.append(" ")
        out.append(cur)
    return "".join(out), len(replacements), candidates, replacements


def _check_columns(batch: Mapping, needed: Iterable[str], stage: str) -> None:
    missing = [c for c in needed if c not in batch]
    if missing:
        raise ValueError(f"{stage}: batch lacks columns {missing}; it has {sorted(batch)}")


def _like(template: Any, values: list) -> Any:
    return np.asarray(values, dtype=object) if isinstance(template, np.ndarray) else values


def code_switch(
    batch: Mapping[str, Any],
    *,
    lexicons: Mapping[tuple[str, str], Optional[Lexicon]],
    p: float,
    seed: Any,
    subsets: Iterable[str] = SWITCHED_SUBSETS,
) -> dict:
    """The batch transform (Ray Data ``map_batches``): code-switch ``question`` of every row.

    ``lexicons`` maps ``(from_lang, to_lang)`` to a :class:`Lexicon` or None (see
    :func:`load_lexicons`). A row whose direction has no lexicon passes through with
    ``n_switched == 0`` and ``switch_dict == "none"``. When the batch has a ``subset`` column, rows
    outside ``subsets`` (the parallel-corpus ``mt``/``comp`` rows by default) pass through with
    ``switch_dict == "off"``. Row count, row order and every other column are kept; the columns of
    :data:`OUTPUT_COLUMNS` are set.
    """
    _check_columns(batch, INPUT_COLUMNS, "code_switch")
    allowed = set(subsets)
    has_subset = "subset" in batch
    n = len(batch["question"])
    questions: list = []
    n_switched = np.zeros(n, dtype=np.int64)
    candidates = np.zeros(n, dtype=np.int64)
    used: list[str] = []
    for r in range(n):
        question = batch["question"][r]
        qlang, src, tgt = str(batch["question_lang"][r]), str(batch["src_lang"][r]), str(batch["tgt_lang"][r])
        if has_subset and str(batch["subset"][r]) not in allowed:
            questions.append(question)
            used.append("off")
            continue
        if qlang == src:
            key = (src, tgt)
        elif qlang == tgt:
            key = (tgt, src)
        else:
            raise ValueError(
                f"code_switch: row id={batch['id'][r]!r} has question_lang={qlang!r}, "
                f"neither its src_lang={src!r} nor its tgt_lang={tgt!r}"
            )
        lexicon = lexicons.get(key)
        if lexicon is None or question is None:
            questions.append(question)
            used.append("none" if lexicon is None else lexicon.name)
            continue
        rng = row_rng(seed, str(batch["id"][r]), "code_switch")
        new, k, c, _ = code_switch_text(str(question), lexicon, p=p, rng=rng, spaced=langs.get(qlang).spaces)
        questions.append(new)
        n_switched[r] = k
        candidates[r] = c
        used.append(lexicon.name)
    out = dict(batch)
    out["question"] = _like(batch["question"], questions)
    out["n_switched"] = n_switched
    out["switch_candidates"] = candidates
    out["switch_dict"] = _like(batch["question"], used)
    return out


class CodeSwitcher:
    """Callable-class form of :func:`code_switch` that loads its dictionaries once (Ray actor or closure).

    ``CodeSwitcher(cfg.code_switch.dictionaries, "en", ["ja"], p=0.15, seed=0)(batch)``.
    ``self.plan`` is :func:`dictionary_plan`'s answer for the manifest.
    """

    def __init__(self, folder: Optional[str], source: str, targets: Iterable[str], *, p: float, seed: Any,
                 max_ngram: Optional[int] = None, subsets: Iterable[str] = SWITCHED_SUBSETS):
        targets = list(targets)
        self.plan = dictionary_plan(folder, source, targets)
        self.lexicons = load_lexicons(folder, source, targets, max_words=max_ngram)
        self.p, self.seed, self.subsets = p, seed, tuple(subsets)

    def __call__(self, batch: Mapping[str, Any]) -> dict:
        return code_switch(batch, lexicons=self.lexicons, p=self.p, seed=self.seed, subsets=self.subsets)
