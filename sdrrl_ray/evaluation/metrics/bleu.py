"""Corpus BLEU and chrF++ with sacreBLEU, with the paper's signature when the flores200 tokenizer is available.

The paper reports ``nrefs:1|case:mixed|eff:no|tok:flores200|smooth:exp|version:2.0.0``. sacreBLEU's
``flores200`` tokenizer is a SentencePiece model that sacreBLEU downloads on first use into
``$SACREBLEU/models/flores200sacrebleuspm`` (``$SACREBLEU`` is read when sacrebleu is first
imported; default ``~/.sacrebleu``). So:

1. the model file is there: BLEU runs with ``tokenize="flores200"`` (the real sacreBLEU code path);
2. it is not, and ``eval.bleu_download`` is true: sacreBLEU is asked to fetch it (needs network);
3. otherwise, or when that fails: BLEU runs with ``eval.bleu_fallback``, a tokenizer that needs no
   download (``auto``: ``char`` for targets written without spaces (ja, th, km, zh, lo), ``13a`` for the
   others), and the signature says so (``tok:char``, plus a note in the report). Such numbers are
   not comparable with the paper's.

chrF++ is ``CHRF(word_order=2)`` (sacreBLEU's chrF++), which needs no tokenizer.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Optional

from sdrrl_ray import languages

log = logging.getLogger(__name__)

SPM_TOKENIZERS = ("flores200", "flores101", "spm", "spBLEU-1K")


@dataclass(frozen=True)
class TokenizerChoice:
    tokenize: str
    requested: str
    note: str = ""  # why the requested tokenizer was not used ("" when it was)


def spm_model_path(name: str = "flores200") -> str:
    """Where sacreBLEU looks for (and downloads) the SentencePiece model of tokenizer ``name``."""
    from sacrebleu.tokenizers.tokenizer_spm import SPM_MODELS
    from sacrebleu.utils import SACREBLEU_DIR

    return os.path.join(SACREBLEU_DIR, "models", os.path.basename(SPM_MODELS[name]["url"]))


def fallback_tokenizer(fallback: str, tgt_lang: str) -> str:
    if fallback != "auto":
        return fallback
    try:
        spaced = languages.get(tgt_lang).spaces
    except languages.UnsupportedLanguage:
        spaced = True
    return "13a" if spaced else "char"


def _try_tokenizer(tokenize: str) -> Optional[str]:
    """None when sacreBLEU can build ``tokenize`` here, else why not."""
    from sacrebleu.metrics import BLEU

    try:
        BLEU(tokenize=tokenize)
    except (Exception, SystemExit) as exc:  # sacreBLEU calls sys.exit on some download errors
        return f"{type(exc).__name__}: {exc}".strip()[:200]
    return None


_WARNED: set = set()
_CHOICES: dict = {}


def choose_tokenizer(requested: str, fallback: str, tgt_lang: str, allow_download: bool) -> TokenizerChoice:
    """The tokenizer BLEU uses for a direction into ``tgt_lang`` (module docstring)."""
    key = (requested, fallback, tgt_lang, allow_download)
    if key in _CHOICES:
        return _CHOICES[key]
    note = ""
    if requested in SPM_TOKENIZERS:
        name = "flores101" if requested == "spm" else requested
        if os.path.exists(spm_model_path(name)):
            err = _try_tokenizer(requested)
            note = f"{requested} model at {spm_model_path(name)} did not load ({err})" if err else ""
        elif allow_download:
            err = _try_tokenizer(requested)  # sacreBLEU downloads the model here
            note = f"{requested} SentencePiece model could not be fetched ({err})" if err else ""
        else:
            note = f"{requested} SentencePiece model not at {spm_model_path(name)} and eval.bleu_download=false"
    else:
        err = _try_tokenizer(requested)
        note = f"tokenizer {requested} unavailable ({err})" if err else ""
    if note:
        tok = fallback_tokenizer(fallback, tgt_lang)
        if note not in _WARNED:  # once per cause: the report's signatures name each direction's tokenizer
            _WARNED.add(note)
            log.warning("BLEU: %s; using a fallback tokenizer (tok:%s into %s; the report's signatures name each "
                        "direction's), not comparable with tok:%s scores", note, tok, tgt_lang, requested)
        choice = TokenizerChoice(tok, requested, note)
    else:
        choice = TokenizerChoice(requested, requested)
    _CHOICES[key] = choice
    return choice


def corpus_scores(
    hypotheses: list[str],
    references: list,
    tgt_lang: str,
    *,
    tokenize: str = "flores200",
    fallback: str = "auto",
    allow_download: bool = True,
    segments: bool = False,
) -> dict:
    """Corpus BLEU and chrF++ (0-100) of one direction, with both signatures.

    ``references``: one reference per hypothesis (FLORES), or a list of reference streams (sacreBLEU's layout).
    ``segments``: also ``bleu_stats`` / ``chrf_stats``, sacreBLEU's per-segment sufficient statistics, and
    ``bleu_scorer`` / ``chrf_scorer``, which turn summed statistics into the corpus score with the same
    metric objects (what sacreBLEU's own paired bootstrap does): the report resamples segments with them.
    """
    from sacrebleu.metrics import BLEU, CHRF

    streams = ([list(r) for r in references] if references and isinstance(references[0], (list, tuple))
               else [list(references)])
    choice = choose_tokenizer(tokenize, fallback, tgt_lang, allow_download)
    bleu = BLEU(tokenize=choice.tokenize)
    chrf = CHRF(word_order=2)
    b = bleu.corpus_score(list(hypotheses), streams)
    c = chrf.corpus_score(list(hypotheses), streams)
    extra = {}
    if segments:
        extra = {
            "bleu_stats": bleu._extract_corpus_statistics(list(hypotheses), streams),
            "chrf_stats": chrf._extract_corpus_statistics(list(hypotheses), streams),
            "bleu_scorer": lambda sums: float(bleu._compute_score_from_stats(list(sums)).score),
            "chrf_scorer": lambda sums: float(chrf._compute_score_from_stats(list(sums)).score),
        }
    return {
        **extra,
        "bleu": float(b.score),
        "chrf++": float(c.score),
        "bleu_signature": str(bleu.get_signature()),
        "chrf_signature": str(chrf.get_signature()),
        "bleu_tokenize": choice.tokenize,
        "bleu_note": choice.note,
    }
