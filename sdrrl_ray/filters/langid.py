"""Off-target filter: is a translation in its target language? (reject reason ``langid_mismatch``)

The paper uses CLD3; this uses lingua (pip ``lingua-language-detector``), built with
``from_languages`` over :func:`sdrrl_ray.languages.langid_candidates` of the languages served
(source, targets and the languages commonly confused with them; never all languages: about 1 GB).

Decision for a text (code blocks, inline code and URLs removed first; no letters: not judged):

- targets with a script of their own (Thai, Khmer, Lao, Korean): the share of letters in that
  script must reach ``min_share``; lingua has no model for some of them (Khmer) and for the others
  the script is the stronger signal on short or code-heavy texts;
- Japanese: kana (hiragana/katakana) make up at least 10% of the letters; otherwise the letters
  must be mostly Japanese script (kana + kanji) and lingua must say Japanese (kanji-only text:
  lingua decides between Japanese and Chinese);
- other targets (Latin, Cyrillic, Han scripts): most letters in the target's script, and (with at
  least ``min_letters`` letters) lingua's most likely language must be the target.
"""

from __future__ import annotations

import re
from typing import Iterable, Optional

from sdrrl_ray import languages
from sdrrl_ray.filters.rules import OK, Verdict
from sdrrl_ray.mt.segment import strip_protected

SCRIPT_DECIDES = ("Thai", "Khmr", "Laoo", "Hang")
KANA = re.compile(r"[\u3040-\u309F\u30A0-\u30FF\uFF66-\uFF9F]")
KANA_SHARE = 0.1
_EXTRA_SCRIPT_RANGES = {"Laoo": ((0x0E80, 0x0EFF),)}


def _share(text: str, script: str) -> float:
    if script in languages.SCRIPT_RANGES:
        return languages.script_share(text, script)
    ranges = _EXTRA_SCRIPT_RANGES.get(script, ())
    letters = [ord(c) for c in text if c.isalpha()]
    if not letters:
        return 0.0
    return sum(1 for cp in letters if any(lo <= cp <= hi for lo, hi in ranges)) / len(letters)


class LanguageIdentifier:
    """Judges texts for the languages in ``languages`` (the detector grows if another one appears)."""

    def __init__(self, languages_served: Iterable[str] = (), min_share: float = 0.5, min_letters: int = 3):
        self.served: list[str] = []
        self.min_share = min_share
        self.min_letters = min_letters
        self._detector = None
        self._candidates: tuple[str, ...] = ()
        for iso in languages_served:
            self._serve(iso)

    def _serve(self, iso: str) -> None:
        if iso not in self.served:
            languages.get(iso)  # unknown codes fail here, naming the registry
            self.served.append(iso)
            self._detector = None

    @property
    def candidates(self) -> tuple[str, ...]:
        """Registry codes the lingua detector chooses among (those lingua has a model for)."""
        if self._detector is None:
            self._build()
        return self._candidates

    def _build(self) -> None:
        from lingua import Language, LanguageDetectorBuilder

        cands = [iso for iso in languages.langid_candidates(self.served) if languages.get(iso).lingua]
        members = [getattr(Language, languages.get(iso).lingua) for iso in cands]
        self._to_iso = {m: iso for m, iso in zip(members, cands)}
        self._candidates = tuple(cands)
        self._detector = LanguageDetectorBuilder.from_languages(*members).build()

    def detect(self, text: str) -> tuple[Optional[str], float]:
        """(ISO code, confidence) of lingua's most likely language among the candidates."""
        if self._detector is None:
            self._build()
        values = self._detector.compute_language_confidence_values(text)
        if not values:
            return None, 0.0
        top = values[0]
        return self._to_iso.get(top.language), float(top.value)

    def check(self, text: str, tgt_lang: str) -> Verdict:
        """:data:`OK`, or a ``langid_mismatch`` verdict saying what was found."""
        self._serve(tgt_lang)
        clean = strip_protected(text or "")
        letters = sum(1 for c in clean if c.isalpha())
        if letters == 0:
            return OK
        lang = languages.get(tgt_lang)
        share = _share(clean, lang.script)
        if lang.script in SCRIPT_DECIDES or lang.lingua is None:
            if share >= self.min_share:
                return OK
            found, conf = self.detect(clean)
            seen = f"; lingua says {found} ({conf:.2f})" if found else ""
            return Verdict(False, "langid_mismatch",
                           f"{share:.0%} of the letters are {lang.script} (need {self.min_share:.0%}){seen}")
        if lang.script == "Jpan" and len(KANA.findall(clean)) / letters >= KANA_SHARE:
            return OK
        if share < self.min_share:
            found, _ = self.detect(clean)
            return Verdict(False, "langid_mismatch",
                           f"{share:.0%} of the letters are {lang.script} (need {self.min_share:.0%}); "
                           f"detected {found or 'unknown'}")
        if letters < self.min_letters:
            return OK  # too short for lingua to tell languages of one script apart
        found, conf = self.detect(clean)
        if found == tgt_lang:
            return OK
        return Verdict(False, "langid_mismatch", f"detected {found or 'unknown'} ({conf:.2f}), expected {tgt_lang}")
