"""Reading a parallel corpus (sentence pairs) for the parallel-corpus tasks (paper-spec 2.7).

Accepted files (``src``/``tgt`` are the requested languages' ISO 639-1 codes):

* TSV, 2 columns: ``src<TAB>tgt``;
* TSV, Tatoeba layout, 4 columns: ``src-code<TAB>tgt-code<TAB>src<TAB>tgt`` with ISO 639-3 codes
  (``eng jpn ...``; a script suffix such as ``jpn_Hira`` is allowed). The first pair's codes must
  be the requested pair (in either order: ``jpn eng`` columns are swapped), else the file is
  refused; a later line with other codes is a bad line;
* JSONL (``.jsonl``/``.json``): ``{"src": ..., "tgt": ...}``, ``{"<src_iso>": ..., "<tgt_iso>": ...}``
  or OPUS-100's Hugging Face form ``{"translation": {"<src_iso>": ..., "<tgt_iso>": ...}}``.

Bad lines are never dropped silently: each is listed with its line number and reason in
:attr:`ParallelCorpus.bad`. Blank lines are counted in :attr:`ParallelCorpus.n_blank`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Optional

from sdrrl_ray import languages as langs
from sdrrl_ray.errors import UserError
from sdrrl_ray.seeding import row_rng

__all__ = ["Pair", "ParallelCorpus", "read_parallel"]


# ISO 639-3 (and other) codes used by Tatoeba/OPUS beyond the NLLB code's prefix.
_EXTRA_CODES = {
    "zh": {"cmn", "zho", "chi", "yue"},
    "nb": {"nor", "nno"},
    "ms": {"msa", "may", "zlm"},
    "fr": {"fre"},
    "cs": {"cze"},
}


class Pair(NamedTuple):
    src: str
    tgt: str
    index: int  # line number in the file (1-based), so ids built from it trace back to the file


@dataclass
class ParallelCorpus:
    """What :func:`read_parallel` read: the (sampled) pairs and an account of every line."""

    path: str
    layout: str  # tsv2 | tatoeba | jsonl
    pairs: list[Pair]
    n_lines: int = 0  # lines in the file
    n_valid: int = 0  # good pairs before sampling
    n_blank: int = 0
    bad: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)
    swapped: bool = False  # Tatoeba columns were tgt-src and were swapped


def _codes(iso: str) -> set[str]:
    codes = {iso}
    lang = langs.REGISTRY.get(iso)
    if lang is not None:
        codes.add(lang.nllb.split("_")[0])
    return codes | _EXTRA_CODES.get(iso, set())


def _code(field_: str) -> str:
    return field_.strip().split("_")[0].split("-")[0].lower()


def _read_jsonl(line: str, src_iso: str, tgt_iso: str) -> tuple[Optional[tuple], Optional[str]]:
    try:
        rec = json.loads(line)
    except json.JSONDecodeError as exc:
        return None, f"invalid_json ({exc.msg})"
    if not isinstance(rec, dict):
        return None, "not a JSON object"
    if isinstance(rec.get("translation"), dict):
        rec = rec["translation"]
    for a, b in (("src", "tgt"), (src_iso, tgt_iso)):
        if a in rec and b in rec:
            src, tgt = rec[a], rec[b]
            if not isinstance(src, str) or not isinstance(tgt, str):
                return None, f"fields {a!r}/{b!r} are not strings"
            return (src, tgt), None
    return None, f"needs keys src/tgt or {src_iso}/{tgt_iso} (has {sorted(rec)[:6]})"


def read_parallel(
    path: str | os.PathLike, *, src_iso: str, tgt_iso: str, n_pairs: Optional[int], seed: Any
) -> ParallelCorpus:
    """Read sentence pairs and sample ``n_pairs`` of them (seeded; file order kept) when there are more.

    ``n_pairs=None`` keeps all. Raises :class:`UserError` for a missing file, a Tatoeba file of
    another language pair, or a file without a single good pair.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise UserError(f"parallel corpus {path} does not exist; fix parallel.paths.{tgt_iso}")
    if n_pairs is not None and n_pairs <= 0:
        raise ValueError(f"read_parallel: n_pairs={n_pairs} must be positive (or None for all)")
    is_json = path.endswith((".jsonl", ".json"))
    layout = "jsonl" if is_json else ""
    src_codes, tgt_codes = _codes(src_iso), _codes(tgt_iso)
    corpus = ParallelCorpus(path=path, layout=layout, pairs=[])
    valid: list[Pair] = []
    try:
        with open(path, encoding="utf-8-sig") as fh:
            for lineno, line in enumerate(fh, start=1):
                corpus.n_lines = lineno
                line = line.rstrip("\r\n")
                if not line.strip():
                    corpus.n_blank += 1
                    continue
                if corpus.layout == "jsonl":
                    pair, reason = _read_jsonl(line, src_iso, tgt_iso)
                else:
                    fields_ = line.split("\t")
                    if not corpus.layout:
                        if len(fields_) not in (2, 4):
                            raise UserError(
                                f"{path} line {lineno}: {len(fields_)} tab-separated columns; expected 2 "
                                f"(src<TAB>tgt) or 4 (Tatoeba: src-code<TAB>tgt-code<TAB>src<TAB>tgt)"
                            )
                        corpus.layout = "tsv2" if len(fields_) == 2 else "tatoeba"
                        if corpus.layout == "tatoeba":
                            a, b = _code(fields_[0]), _code(fields_[1])
                            if a in tgt_codes and b in src_codes:
                                corpus.swapped = True
                            elif not (a in src_codes and b in tgt_codes):
                                raise UserError(
                                    f"{path} line {lineno}: language codes {fields_[0]}-{fields_[1]} do not "
                                    f"match the requested pair {src_iso}-{tgt_iso} (expected one of "
                                    f"{sorted(src_codes)} and {sorted(tgt_codes)}); is this the right file?"
                                )
                    pair, reason = _read_tsv(fields_, corpus, src_codes, tgt_codes)
                if pair is not None:
                    src, tgt = pair[0].strip(), pair[1].strip()
                    if not src or not tgt:
                        pair, reason = None, "empty sentence"
                    else:
                        valid.append(Pair(src, tgt, lineno))
                if pair is None:
                    corpus.bad.append((lineno, reason))
    except UnicodeDecodeError as exc:
        raise UserError(f"parallel corpus {path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    corpus.layout = corpus.layout or "tsv2"
    corpus.n_valid = len(valid)
    if not valid:
        first = f"; first bad line {corpus.bad[0][0]}: {corpus.bad[0][1]}" if corpus.bad else ""
        raise UserError(f"parallel corpus {path} has no usable {src_iso}-{tgt_iso} pair{first}")
    if n_pairs is not None and len(valid) > n_pairs:
        # seeded by the pair, not the path: a moved or renamed file gives the same sample
        rng = row_rng(seed, f"{src_iso}-{tgt_iso}", "parallel_sample")
        keep = sorted(rng.sample(range(len(valid)), n_pairs))
        valid = [valid[i] for i in keep]
    corpus.pairs = valid
    return corpus


def _read_tsv(fields_: list[str], corpus: ParallelCorpus, src_codes: set, tgt_codes: set):
    if corpus.layout == "tsv2":
        if len(fields_) != 2:
            return None, f"{len(fields_)} columns (expected 2)"
        return (fields_[0], fields_[1]), None
    if len(fields_) != 4:
        return None, f"{len(fields_)} columns (expected 4: src-code, tgt-code, src, tgt)"
    a, b = _code(fields_[0]), _code(fields_[1])
    if corpus.swapped:
        a, b = b, a
    if not (a in src_codes and b in tgt_codes):
        return None, f"language codes {fields_[0]}-{fields_[1]} are not the file's pair"
    return ((fields_[3], fields_[2]) if corpus.swapped else (fields_[2], fields_[3])), None


# --------------------------------------------------------------------------------------------
# completion split points
