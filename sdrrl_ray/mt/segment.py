"""Split long texts into translatable sentences and put the translations back in place.

:func:`segment` cuts a text into a :class:`Plan` (the sentences to translate plus everything that
comes back unchanged: code, URLs, list markers, line breaks); :func:`reassemble` fills the
translations in. Both are pure functions. What is kept and where sentences end: ``docs/segmentation.md``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional, Sequence, Union

Piece = Union[str, int]  # a literal kept as is, or the index of a segment to translate


@dataclass(frozen=True)
class Plan:
    """A text cut into literals (``str``) and segments to translate (``int`` index into ``segments``)."""

    lang: str
    pieces: tuple[Piece, ...]
    segments: tuple[str, ...]

    def literal_text(self) -> str:
        """The text with every segment left untranslated (equals the input, newlines normalised)."""
        return reassemble(self, list(self.segments))


_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_MARKER = re.compile(
    r"^(?P<m>[ \t]*(?:(?:[-*+•▪‣◦]|\d{1,3}[.)]|\(\d{1,3}\)|[A-Za-z][.)]|#{1,6}|>)[ \t]+)*)"
)
# protected spans inside a line: inline code, URLs (trailing sentence punctuation excluded)
_PROTECTED = re.compile(
    r"(?P<code>(`+)(?:(?!\2).)+?\2)"
    r"|(?P<url>(?:(?:https?|ftp)://|www\.)[^\s<>\"'`]*[^\s<>\"'`.,;:!?)\]}」』。、])"
)
_LETTER = re.compile(r"[^\W\d_]")
_CLOSERS = "\"'’”»)]}」』）】〉》"
_TERMINAL_LATIN = re.compile(rf"[.!?]+[{re.escape(_CLOSERS)}]*(?P<ws>\s+)")
_TERMINAL_ALWAYS = re.compile(rf"[。！？｡។៕।॥؟۔]+[{re.escape(_CLOSERS)}]*(?P<ws>\s*)")
_THAI_LAO = r"\u0E00-\u0E7F\u0E80-\u0EFF"
_THAI_GAP = re.compile(rf"(?<=[{_THAI_LAO}])(?P<ws>\s+)(?=[{_THAI_LAO}])")
_CJK_BRACKETS = (("「", "」"), ("『", "』"), ("（", "）"), ("【", "】"))
_HIRAGANA = re.compile(r"[\u3040-\u309F]")
_CLAUSE = re.compile(r"[,;:，、；：](?P<ws>\s*)")

ABBREVIATIONS = {
    "en": {"mr", "mrs", "ms", "dr", "prof", "st", "sr", "jr", "vs", "etc", "inc", "ltd", "co", "no",
           "fig", "cf", "approx", "dept", "est", "mt", "e.g", "i.e", "a.m", "p.m", "u.s", "jan", "feb",
           "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "vol", "al"},
    "fr": {"m", "mme", "mlle", "dr", "pr", "st", "ste", "etc", "cf", "p", "ex", "av", "env", "n°", "vol"},
}


def segment(text: Optional[str], lang: str, max_chars: Optional[int] = None, split_sentences: bool = True) -> Plan:
    """Cut ``text`` (in language ``lang``) into segments to translate and literals to keep.

    ``split_sentences=False`` keeps each line's text whole (structure and protected spans are
    still kept). ``max_chars`` bounds each segment's length.

    >>> plan = segment("Hello there. See `ls`.\\n\\n- Item one", "en")
    >>> plan.segments
    ('Hello there.', 'See', 'Item one')
    >>> reassemble(plan, ["Bonjour.", "Voir", "Article un"])
    'Bonjour. Voir `ls`.\\n\\n- Article un'
    """
    if text is None:
        raise ValueError("segment() got None; pass a string")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    pieces: list[Piece] = []
    segments: list[str] = []

    def lit(s: str) -> None:
        if not s:
            return
        if pieces and isinstance(pieces[-1], str):
            pieces[-1] += s
        else:
            pieces.append(s)

    def seg(s: str) -> None:
        pieces.append(len(segments))
        segments.append(s)

    fence: Optional[str] = None
    for line in text.splitlines(keepends=True):
        body = line[:-1] if line.endswith("\n") else line
        newline = line[len(body):]
        if fence is not None:
            lit(line)
            m = _FENCE.match(body)
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) and not body[m.end():].strip():
                fence = None
            continue
        m = _FENCE.match(body)
        if m:
            fence = m.group(1)
            lit(line)
            continue
        if not body.strip():
            lit(line)
            continue
        marker = _MARKER.match(body).group("m")
        lit(marker)
        content = body[len(marker):]
        if content.lstrip().startswith("|"):  # table row: translate cell by cell
            for k, cell in enumerate(content.split("|")):
                if k:
                    lit("|")
                _line_content(cell, lang, max_chars, split_sentences, lit, seg)
        else:
            _line_content(content, lang, max_chars, split_sentences, lit, seg)
        lit(newline)
    return Plan(lang=lang, pieces=tuple(pieces), segments=tuple(segments))


def _line_content(content, lang, max_chars, split_sentences, lit, seg) -> None:
    pos = 0
    for m in _PROTECTED.finditer(content):
        _text_run(content[pos:m.start()], lang, max_chars, split_sentences, lit, seg)
        lit(m.group(0))
        pos = m.end()
    _text_run(content[pos:], lang, max_chars, split_sentences, lit, seg)


def _text_run(run: str, lang, max_chars, split_sentences, lit, seg) -> None:
    stripped = run.strip()
    if not stripped:
        lit(run)
        return
    lead = run[: len(run) - len(run.lstrip())]
    trail = run[len(run.rstrip()):]
    lit(lead)
    parts = split_into_sentences(stripped, lang) if split_sentences else [(stripped, "")]
    for sentence, sep in parts:
        for chunk, chunk_sep in _bound_length(sentence, max_chars):
            if _LETTER.search(chunk):
                seg(chunk)
            else:
                lit(chunk)
            lit(chunk_sep)
        lit(sep)
    lit(trail)


def split_into_sentences(text: str, lang: str) -> list[tuple[str, str]]:
    """``(sentence, separator)`` pairs whose concatenation is ``text`` (no leading/trailing space)."""
    cuts: dict[int, int] = {}  # start of separator -> end of separator
    for m in _TERMINAL_LATIN.finditer(text):
        end = m.start("ws")
        nxt = text[m.end():m.end() + 1]
        if not nxt or nxt.islower():
            continue
        if text[m.start()] == "." and _is_abbreviation(text[:m.start()], lang):
            continue
        cuts[end] = m.end()
    for m in _TERMINAL_ALWAYS.finditer(text):
        if m.end() >= len(text):
            continue
        before = text[:m.start()]
        if any(before.count(o) > before.count(c) for o, c in _CJK_BRACKETS) and not m.group("ws"):
            continue  # inside a quotation: 「はい。いいえ。」
        if text[m.start("ws") - 1] in _CLOSERS and _HIRAGANA.match(text, m.end()):
            continue  # 「はい。」と言った。: the quotation goes on into the sentence
        cuts[m.start("ws")] = m.end()
    for m in _THAI_GAP.finditer(text):
        cuts[m.start("ws")] = m.end()
    out, start = [], 0
    for sep_start in sorted(cuts):
        sep_end = cuts[sep_start]
        if sep_start < start:
            continue
        if sep_end == sep_start and sep_start == start:
            continue
        out.append((text[start:sep_start], text[sep_start:sep_end]))
        start = sep_end
    out.append((text[start:], ""))
    return [(s, sep) for s, sep in out if s] or [(text, "")]


def _is_abbreviation(before: str, lang: str) -> bool:
    word = re.split(r"[\s(\[\"'“‘]", before)[-1]
    if not word:
        return False
    if len(word) == 1 and word.isalpha() and word.isupper():
        return True  # an initial: "J. Smith"
    if "." in word and all(len(p) <= 2 for p in word.split(".")):
        return True  # dotted acronym or abbreviation: "U.S", "e.g", "i.e"
    return word.lower() in ABBREVIATIONS.get(lang, ABBREVIATIONS["en"])


def _bound_length(sentence: str, max_chars: Optional[int]) -> list[tuple[str, str]]:
    """Cut a sentence longer than ``max_chars`` at clauses, then spaces, then hard."""
    if not max_chars or len(sentence) <= max_chars:
        return [(sentence, "")]
    out: list[tuple[str, str]] = []
    for unit, sep in _split_keep(sentence, _CLAUSE, keep_match_left=True):
        for word_run, wsep in _pack(unit, max_chars):
            if len(word_run) <= max_chars:
                out.append((word_run, wsep))
                continue
            for k in range(0, len(word_run), max_chars):  # no usable break: hard cut
                out.append((word_run[k:k + max_chars], ""))
            out[-1] = (out[-1][0], wsep)
        out[-1] = (out[-1][0], out[-1][1] + sep)
    return _merge_small(out, max_chars)


def _split_keep(text: str, pattern: re.Pattern, keep_match_left: bool) -> list[tuple[str, str]]:
    out, start = [], 0
    for m in pattern.finditer(text):
        if m.end() >= len(text):
            break
        left_end = m.start("ws") if keep_match_left else m.start()
        out.append((text[start:left_end], text[left_end:m.end()]))
        start = m.end()
    out.append((text[start:], ""))
    return [(s, sep) for s, sep in out if s or sep]


def _pack(text: str, max_chars: int) -> list[tuple[str, str]]:
    """Greedy word packing: runs of whole words up to ``max_chars`` (separator spaces kept apart)."""
    if len(text) <= max_chars:
        return [(text, "")]
    words = re.split(r"(\s+)", text)
    out: list[tuple[str, str]] = []
    cur = ""
    for k in range(0, len(words), 2):
        word, space = words[k], words[k + 1] if k + 1 < len(words) else ""
        if cur and len(cur) + len(word) > max_chars:
            head, tail = cur.rstrip(), cur[len(cur.rstrip()):]
            out.append((head, tail))
            cur = ""
        cur += word + space
    head, tail = cur.rstrip(), cur[len(cur.rstrip()):]
    out.append((head, tail))
    return out


def _merge_small(parts: list[tuple[str, str]], max_chars: int) -> list[tuple[str, str]]:
    """Join consecutive pieces while they fit, so clause cuts do not leave tiny fragments."""
    out: list[tuple[str, str]] = []
    for text, sep in parts:
        if out and len(out[-1][0]) + len(out[-1][1]) + len(text) <= max_chars:
            prev, psep = out[-1]
            out[-1] = (prev + psep + text, sep)
        else:
            out.append((text, sep))
    return out


def strip_protected(text: str) -> str:
    """``text`` without what translation keeps as is: fenced code blocks, inline code, URLs."""
    plan = segment(text, "en", split_sentences=False)
    kept = []
    for piece in plan.pieces:
        if isinstance(piece, int):
            kept.append(plan.segments[piece])
        else:
            kept.append(" ")
    return " ".join("".join(kept).split())


_NO_SPACE_SCRIPTS = ("Jpan", "Hans", "Hant")
_CJK_END = re.compile(r"[。！？｡」』）\u3040-\u30FF\u4E00-\u9FFF]$")


def reassemble(plan: Plan, translations: Sequence[str], tgt_lang: Optional[str] = None) -> str:
    """Put ``translations`` (one per ``plan.segments``, in order) back between the kept literals.

    With ``tgt_lang``, the space between two translated sentences follows the target's custom:
    none after a Japanese/Chinese sentence, one space for languages that separate sentences with
    spaces when the source had none (Japanese source into English).
    """
    if len(translations) != len(plan.segments):
        raise ValueError(
            f"reassemble() got {len(translations)} translations for {len(plan.segments)} segments"
        )
    no_space = False
    if tgt_lang is not None:
        from sdrrl_ray.languages import get

        no_space = get(tgt_lang).script in _NO_SPACE_SCRIPTS
    out: list[str] = []
    pieces = plan.pieces
    for k, piece in enumerate(pieces):
        if isinstance(piece, int):
            out.append(translations[piece].strip())
            continue
        between = 0 < k < len(pieces) - 1 and isinstance(pieces[k - 1], int) and isinstance(pieces[k + 1], int)
        if tgt_lang is not None and between and piece.strip(" \t") == "":
            prev = out[-1] if out else ""
            if no_space:
                out.append("" if _CJK_END.search(prev) else piece)
            else:
                out.append(piece or " ")
            continue
        out.append(piece)
    if tgt_lang is not None:
        # adjacent segments with no literal between them (source without spaces)
        result: list[str] = []
        for k, piece in enumerate(pieces):
            result.append(out[k])
            if (
                not no_space
                and isinstance(piece, int)
                and k + 1 < len(pieces)
                and isinstance(pieces[k + 1], int)
            ):
                result.append(" ")
        return "".join(result)
    return "".join(out)
