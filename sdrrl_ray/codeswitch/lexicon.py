"""Bilingual dictionaries (MUSE format: one ``source target`` pair per line) for code-switching.

Lookup is case-insensitive (keys are lowercased). Identity pairs (``was was``: about a quarter of
the public en-ja file) are dropped when a dictionary is loaded, because replacing a word by itself
is no code-switch; they are counted in ``Lexicon.n_identity``. A direction without its own file
uses the reverse file inverted; file names use MUSE codes (``nb`` is ``no`` there) or the ISO code.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Iterable, Mapping, Optional

from sdrrl_ray import languages as langs
from sdrrl_ray.errors import UserError


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
