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
from sdrrl_ray.codeswitch.words import dictionary_words, spaced_word_char


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
    words = dictionary_words(text, lexicon, spaced=spaced)
    chosen: list[tuple[int, int, str]] = []  # (start, end, replacement): one draw per word, in text order
    for start, end, translations in words:
        if rng.random() < p:
            choice = translations[0] if len(translations) == 1 else rng.choice(translations)
            chosen.append((start, end, _match_case(text[start:end], choice)))
    if not chosen:
        return text, 0, len(words), []
    replacements = [(text[start:end], choice) for start, end, choice in chosen]
    out: list[str] = []
    last = 0
    for k, (start, end, choice) in enumerate(chosen):
        out.append(text[last:start])
        if not spaced:  # a space where the replacement would touch a spaced-script letter or digit
            left = chosen[k - 1][2][-1:] if k and chosen[k - 1][1] == start else text[start - 1 : start]
            if left and choice and spaced_word_char(left) and spaced_word_char(choice[0]):
                out.append(" ")
        out.append(choice)
        next_replaced = k + 1 < len(chosen) and chosen[k + 1][0] == end  # then its own left side decides
        if not spaced and not next_replaced and end < len(text) and choice:
            if spaced_word_char(choice[-1]) and spaced_word_char(text[end]):
                out.append(" ")
        last = end
    out.append(text[last:])
    return "".join(out), len(chosen), len(words), replacements
