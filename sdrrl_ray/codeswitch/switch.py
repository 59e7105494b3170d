"""Code-switching of one text: each dictionary word replaced, independently with probability ``p``
(paper: 0.15), by one of its dictionary translations; other words are never touched.

Spacing: the text's own whitespace is always kept. A replacement written in a spaced script inside
unspaced text (``猫`` -> ``cat`` in Japanese) gets a space on a side only where it would otherwise
touch another letter or digit of a spaced script (``猫犬`` -> ``cat dog``, but ``私は猫が好き`` ->
``私はcatが好き``). Replacements into an unspaced script inside spaced text need nothing: the words
around them keep their spaces (``I like 猫``).

Case: a replacement in a cased script follows the replaced word's case: ``Dog`` -> ``Chó``,
``DOG`` -> ``CHÓ``; lowercase entries stay lowercase.
"""

from __future__ import annotations

import random
from typing import Optional

from sdrrl_ray.codeswitch.lexicon import Lexicon
from sdrrl_ray.codeswitch.words import segment, spaced_word_char


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
        touching = prev and cur and spaced_word_char(prev[-1]) and spaced_word_char(cur[0])
        if touching and (replaced[k - 1] or replaced[k]):
            out.append(" ")
        out.append(cur)
    return "".join(out), len(replacements), candidates, replacements
