"""How a translation model is told its languages: the code family (NLLB ``jpn_Jpan``, M2M100
``__ja__``, Marian's one pair or ``>>xxx<<`` tokens), from the tokenizer, and the start-up check
that every configured pair is served.

Language codes come from the registry (:mod:`sdrrl_ray.languages`): NLLB ``jpn_Jpan`` (tokenizer
``src_lang``, ``target_prefix`` / ``forced_bos_token_id``), M2M100 ``__ja__``; a Marian model
serves the one pair it was trained for (``source_lang``/``target_lang`` of its tokenizer config,
else an ``opus-mt-<src>-<tgt>`` folder name); a multi-target Marian (``target_lang`` ``mul``)
gets the ``>>xxx<<`` token of the target.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any, Mapping, Optional

from sdrrl_ray import languages
from sdrrl_ray.errors import UserError

logger = logging.getLogger(__name__)

FAMILIES = ("nllb", "m2m100", "marian")
# ISO 639-2/3 codes that Marian models use, beyond the first three letters of the NLLB codes
_ISO3_ALIASES = {"jap": "ja", "fre": "fr", "ger": "de", "cze": "cs", "slo": "sk", "chi": "zh", "cmn": "zh",
                 "nor": "nb", "nob": "nb", "no": "nb", "may": "ms", "msa": "ms"}


def detect_family(tokenizer: Any, family: str = "auto", where: str = "") -> str:
    """nllb | m2m100 | marian, from ``family`` or the tokenizer's class and vocabulary."""
    if family != "auto":
        if family not in FAMILIES:
            raise UserError(f"translate.family={family!r} is not one of {list(FAMILIES)}")
        return family
    name = type(tokenizer).__name__.lower()
    for fam, marker in (("nllb", "nllb"), ("m2m100", "m2m100"), ("marian", "marian")):
        if marker in name:
            return fam
    vocab = known_tokens(tokenizer)
    if "eng_Latn" in vocab:
        return "nllb"
    if "__en__" in vocab:
        return "m2m100"
    raise UserError(
        f"cannot tell which language codes the translation model {where} uses (tokenizer {type(tokenizer).__name__}); "
        "set translate.family to nllb, m2m100 or marian"
    )


def known_tokens(tokenizer: Any) -> set[str]:
    """Every token the tokenizer can produce (M2M100 keeps its language codes outside ``get_vocab()``)."""
    out = set(tokenizer.get_vocab())
    out.update(getattr(tokenizer, "added_tokens_encoder", {}) or {})
    out.update(getattr(tokenizer, "lang_token_to_id", {}) or {})
    return out


def to_iso(code: Optional[str]) -> Optional[str]:
    """ISO 639-1 of a 2- or 3-letter code as Marian models write them (``en``, ``eng``, ``jap``)."""
    if not code:
        return None
    code = code.lower().split("_")[0].split("-")[0]
    if code in languages.REGISTRY:
        return code
    if code in _ISO3_ALIASES:
        return _ISO3_ALIASES[code]
    for lang in languages.REGISTRY.values():
        if lang.nllb.split("_")[0] == code:
            return lang.iso
    return None


class LanguageCodes:
    """How one model is told the source and target language."""

    def __init__(self, tokenizer: Any, family: str, model_path: str):
        self.tokenizer = tokenizer
        self.family = family
        self.model_path = model_path
        self.vocab = known_tokens(tokenizer)
        self.marian_pair: tuple[Optional[str], Optional[str]] = (None, None)
        self.marian_raw_target: Optional[str] = None
        self._checked: dict[tuple[str, str], Optional[str]] = {}
        if family == "marian":
            self.marian_pair, self.marian_raw_target = _marian_pair(tokenizer, model_path)

    def token(self, iso: str) -> Optional[str]:
        """The language token (NLLB ``jpn_Jpan``, M2M100 ``__ja__``); None for Marian."""
        lang = languages.get(iso)
        if self.family == "nllb":
            code = lang.nllb
        elif self.family == "m2m100":
            code = f"__{lang.m2m100}__" if lang.m2m100 else None
        else:
            return None
        if code is None or code not in self.vocab:
            raise UserError(
                f"the translation model {self.model_path} ({self.family}) has no language token for "
                f"'{iso}' ({lang.name}{', ' + code if code else ''}); remove {iso} from languages.targets "
                "or use a model that covers it"
            )
        return code

    def src_lang_value(self, iso: str) -> Optional[str]:
        """What to set as ``tokenizer.src_lang`` (NLLB: ``eng_Latn``, M2M100: ``en``)."""
        if self.family == "nllb":
            return self.token(iso)
        if self.family == "m2m100":
            self.token(iso)
            return languages.get(iso).m2m100
        return None

    def source_texts(self, segments: list[str], src: str, tgt: str) -> list[str]:
        """The segments as the model reads them for ``src`` -> ``tgt``: the tokenizer's source language
        set (NLLB, M2M100) and a Marian ``>>xxx<<`` prefix where the model needs one."""
        prefix = self.check_pair(src, tgt)
        src_value = self.src_lang_value(src)
        if src_value is not None:
            self.tokenizer.src_lang = src_value
        return [f"{prefix} {s}" if prefix else s for s in segments]

    def check_pair(self, src: str, tgt: str) -> Optional[str]:
        """Marian: raise unless the model serves ``src``->``tgt``; return a ``>>xxx<<`` source prefix if needed."""
        if (src, tgt) not in self._checked:
            self._checked[(src, tgt)] = self._check_pair(src, tgt)
        return self._checked[(src, tgt)]

    def _check_pair(self, src: str, tgt: str) -> Optional[str]:
        if self.family != "marian":
            self.token(src)
            self.token(tgt)
            return None
        msrc, mtgt = self.marian_pair
        if self.marian_raw_target in ("mul", "multi") or (mtgt is None and _marian_lang_tokens(self.vocab)):
            if msrc is not None and msrc != src:
                raise UserError(self._pair_error(src, tgt))
            for cand in (f">>{languages.get(tgt).nllb.split('_')[0]}<<", f">>{tgt}<<",
                         f">>{languages.get(tgt).nllb}<<"):
                if cand in self.vocab:
                    return cand
            raise UserError(
                f"the multi-target Marian model {self.model_path} has no >>xxx<< token for '{tgt}'; "
                "use a model that covers it"
            )
        if msrc is None or mtgt is None:
            logger.warning(
                "cannot tell which pair the Marian model %s translates (no source_lang/target_lang in its "
                "tokenizer_config.json, no opus-mt-<src>-<tgt> folder name); assuming %s->%s",
                self.model_path, src, tgt,
            )
            return None
        if (msrc, mtgt) != (src, tgt):
            raise UserError(self._pair_error(src, tgt))
        return None

    def _pair_error(self, src: str, tgt: str) -> str:
        msrc, mtgt = self.marian_pair
        return (
            f"the Marian model {self.model_path} translates {msrc or '?'}->{mtgt or self.marian_raw_target or '?'}, "
            f"not {src}->{tgt}: a Marian model serves one pair. Use one model per target "
            "(translate.model may contain {src} and {tgt}, e.g. /models/opus-mt-{src}-{tgt}; "
            "demo:marian picks the demo model of each pair) or an NLLB/M2M100 model"
        )


def _marian_lang_tokens(vocab: dict) -> list[str]:
    return [t for t in vocab if t.startswith(">>") and t.endswith("<<")]


def _marian_pair(tokenizer: Any, model_path: str) -> tuple[tuple[Optional[str], Optional[str]], Optional[str]]:
    init = getattr(tokenizer, "init_kwargs", {}) or {}
    raw_src = getattr(tokenizer, "source_lang", None) or init.get("source_lang")
    raw_tgt = getattr(tokenizer, "target_lang", None) or init.get("target_lang")
    if not (raw_src and raw_tgt):
        m = re.search(r"opus-mt(?:-tc-[a-z]+)?-([a-z]{2,3})-([a-z]{2,3})\b",
                      os.path.basename(os.path.normpath(model_path)).lower())
        if m:
            raw_src, raw_tgt = raw_src or m.group(1), raw_tgt or m.group(2)
    return (to_iso(raw_src), to_iso(raw_tgt)), (raw_tgt.lower() if raw_tgt else None)


def check_translation_models(model_paths: Mapping[str, str], src: str, family: str = "auto",
                             what: str = "translate.model") -> None:
    """Start-up check: the model serving each target (``model_paths``: target -> resolved model)
    has the pair's language codes. Loads tokenizers only (a second or so); raises
    :class:`~sdrrl_ray.errors.UserError` naming the language and the model."""
    from transformers import AutoTokenizer

    seen: dict[str, LanguageCodes] = {}
    for tgt, path in model_paths.items():
        if path not in seen:
            try:
                tokenizer = AutoTokenizer.from_pretrained(path)
            except Exception as exc:
                raise UserError(f"{what}: cannot load the tokenizer of {path} ({exc})") from None
            seen[path] = LanguageCodes(tokenizer, detect_family(tokenizer, family, path), path)
        seen[path].check_pair(src, tgt)
