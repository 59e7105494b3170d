"""Translation backends behind one call: ``translate_batch(segments, src_iso, tgt_iso) -> translations``.

- ``ct2``: CTranslate2 (NLLB-200, M2M100, Marian). An HF folder is converted on first use
  (:mod:`sdrrl_ray.translate.convert`); a folder with ``model.bin`` is loaded as it is (it must
  hold the tokenizer files too, as :mod:`~sdrrl_ray.translate.convert` writes them).
- ``hf``: transformers ``AutoModelForSeq2SeqLM.generate`` (beam search, ``forced_bos_token_id``).
- ``llm``: prompted translation through a generation engine (``hf`` or ``vllm``), greedy.

Precision (``compute_type="auto"``): int8 with ct2 on CPU, float16 on GPU (ct2 and hf); float32
with hf on CPU. The device is whatever the process sees (``ctranslate2.get_cuda_device_count()``,
``torch.cuda.is_available()``), never a config value.

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
from typing import Any, Optional, Protocol

from sdrrl_ray import languages
from sdrrl_ray.errors import UserError

logger = logging.getLogger(__name__)

FAMILIES = ("nllb", "m2m100", "marian")
# ISO 639-2/3 codes that Marian models use, beyond the first three letters of the NLLB codes
_ISO3_ALIASES = {"jap": "ja", "fre": "fr", "ger": "de", "cze": "cs", "slo": "sk", "chi": "zh", "cmn": "zh",
                 "nor": "nb", "nob": "nb", "no": "nb", "may": "ms", "msa": "ms"}


class TranslationBackend(Protocol):
    name: str
    family: str

    def translate_batch(self, segments: list[str], src_iso: str, tgt_iso: str) -> list[str]:
        """One translation per segment, in order."""
        ...


def build_backend(backend: str, model_path: str, **kwargs: Any) -> TranslationBackend:
    """Load ``backend`` ("ct2", "hf" or "llm") on ``model_path``; heavy imports happen here."""
    if backend == "ct2":
        return CT2Backend(model_path, **kwargs)
    if backend == "hf":
        return HFBackend(model_path, **kwargs)
    if backend == "llm":
        return LLMBackend(model_path, **kwargs)
    raise UserError(f"translate.backend={backend!r} is not one of ['ct2', 'hf', 'llm']")


# --------------------------------------------------------------------------------------------
# language codes


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
            for cand in (f">>{languages.get(tgt).nllb.split('_')[0]}<<", f">>{tgt}<<", f">>{languages.get(tgt).nllb}<<"):
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
        m = re.search(r"opus-mt(?:-tc-[a-z]+)?-([a-z]{2,3})-([a-z]{2,3})\b", os.path.basename(os.path.normpath(model_path)).lower())
        if m:
            raw_src, raw_tgt = raw_src or m.group(1), raw_tgt or m.group(2)
    return (to_iso(raw_src), to_iso(raw_tgt)), (raw_tgt.lower() if raw_tgt else None)


def _precision(compute_type: str, gpu: bool) -> str:
    if compute_type in ("auto", "default", None):
        return "float16" if gpu else "int8"
    return compute_type


# --------------------------------------------------------------------------------------------
# CTranslate2


class CT2Backend:
    name = "ct2"

    def __init__(
        self,
        model_path: str,
        *,
        family: str = "auto",
        beam_size: int = 4,
        max_input_tokens: int = 256,
        max_decoding_length: int = 512,
        min_decoding_length: int = 0,
        compute_type: str = "auto",
        num_threads: Optional[int] = None,
        max_batch_size: int = 32,
        **_: Any,
    ):
        import ctranslate2
        from transformers import AutoTokenizer

        from sdrrl_ray.translate.convert import converted_folder, is_ct2_folder

        self.device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
        self.compute_type = _precision(compute_type, self.device == "cuda")
        supported = ctranslate2.get_supported_compute_types(self.device)
        if self.compute_type not in supported:
            raise UserError(
                f"translate.compute_type={self.compute_type} is not supported by CTranslate2 on {self.device} "
                f"(supported: {sorted(supported)}); use auto"
            )
        if is_ct2_folder(model_path):
            self.ct2_path = model_path
        else:
            self.ct2_path = converted_folder(model_path, self.compute_type)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.ct2_path)
        except Exception as exc:  # a converted folder made elsewhere without its tokenizer
            raise UserError(
                f"the CTranslate2 folder {self.ct2_path} holds no loadable tokenizer ({exc}); convert with "
                "ct2-transformers-converter --copy_files tokenizer.json tokenizer_config.json ... or point "
                "translate.model at the Hugging Face folder (it is converted on first use)"
            ) from None
        self.family = detect_family(self.tokenizer, family, model_path)
        self.codes = LanguageCodes(self.tokenizer, self.family, model_path)
        threads = num_threads or int(os.environ.get("OMP_NUM_THREADS") or 0) or min(4, os.cpu_count() or 1)
        self.num_threads = threads
        self.translator = ctranslate2.Translator(
            self.ct2_path, device=self.device, compute_type=self.compute_type, intra_threads=threads, inter_threads=1
        )
        self.beam_size = beam_size
        self.max_input_tokens = max_input_tokens
        self.max_decoding_length = max_decoding_length
        self.min_decoding_length = min_decoding_length
        self.max_batch_size = max_batch_size

    def translate_batch(self, segments: list[str], src_iso: str, tgt_iso: str) -> list[str]:
        if not segments:
            return []
        prefix_src = self.codes.check_pair(src_iso, tgt_iso)
        src_value = self.codes.src_lang_value(src_iso)
        if src_value is not None:
            self.tokenizer.src_lang = src_value
        texts = [f"{prefix_src} {s}" if prefix_src else s for s in segments]
        ids = self.tokenizer(texts, truncation=True, max_length=self.max_input_tokens)["input_ids"]
        source = [self.tokenizer.convert_ids_to_tokens(row) for row in ids]
        tgt_token = self.codes.token(tgt_iso)
        prefix = [[tgt_token]] * len(source) if tgt_token else None
        results = self.translator.translate_batch(
            source,
            target_prefix=prefix,
            beam_size=self.beam_size,
            max_batch_size=self.max_batch_size,
            max_input_length=self.max_input_tokens,
            max_decoding_length=self.max_decoding_length,
            min_decoding_length=self.min_decoding_length,
        )
        out = []
        for res in results:
            tokens = res.hypotheses[0]
            if tgt_token and tokens and tokens[0] == tgt_token:
                tokens = tokens[1:]
            out.append(self.tokenizer.decode(self.tokenizer.convert_tokens_to_ids(tokens), skip_special_tokens=True).strip())
        return out


# --------------------------------------------------------------------------------------------
# transformers


class HFBackend:
    name = "hf"

    def __init__(
        self,
        model_path: str,
        *,
        family: str = "auto",
        beam_size: int = 4,
        max_input_tokens: int = 256,
        max_decoding_length: int = 512,
        min_decoding_length: int = 0,
        compute_type: str = "auto",
        num_threads: Optional[int] = None,
        max_batch_size: int = 32,
        trust_remote_code: bool = False,
        **_: Any,
    ):
        import torch
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        if num_threads:
            torch.set_num_threads(num_threads)
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if compute_type in ("auto", "default", None):
            precision = "float16" if self.device.type == "cuda" else "float32"
        else:
            precision = compute_type
        if precision not in ("float32", "float16", "bfloat16"):
            raise UserError(
                f"translate.compute_type={compute_type} is not available with translate.backend=hf "
                "(use float32, float16, bfloat16 or auto; int8 is a ct2 compute type)"
            )
        self.compute_type = precision
        self.tokenizer = AutoTokenizer.from_pretrained(model_path, trust_remote_code=trust_remote_code)
        self.family = detect_family(self.tokenizer, family, model_path)
        self.codes = LanguageCodes(self.tokenizer, self.family, model_path)
        self.model = AutoModelForSeq2SeqLM.from_pretrained(
            model_path, dtype=getattr(torch, precision), trust_remote_code=trust_remote_code, use_safetensors=True
        ).to(self.device)
        self.model.eval()
        self.beam_size = beam_size
        self.max_input_tokens = max_input_tokens
        self.max_decoding_length = max_decoding_length
        self.min_decoding_length = min_decoding_length
        self.max_batch_size = max_batch_size

    def translate_batch(self, segments: list[str], src_iso: str, tgt_iso: str) -> list[str]:
        import torch

        if not segments:
            return []
        prefix_src = self.codes.check_pair(src_iso, tgt_iso)
        src_value = self.codes.src_lang_value(src_iso)
        if src_value is not None:
            self.tokenizer.src_lang = src_value
        tgt_token = self.codes.token(tgt_iso)
        kwargs: dict = dict(num_beams=self.beam_size, max_new_tokens=self.max_decoding_length, do_sample=False)
        if self.min_decoding_length:
            kwargs["min_new_tokens"] = self.min_decoding_length
        if tgt_token:
            kwargs["forced_bos_token_id"] = self.tokenizer.convert_tokens_to_ids(tgt_token)
        start = self.model.generation_config.decoder_start_token_id
        if start is None:
            start = self.model.config.decoder_start_token_id
        forced = kwargs.get("forced_bos_token_id")
        texts = [f"{prefix_src} {s}" if prefix_src else s for s in segments]
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths share a batch
        out: list[Optional[str]] = [None] * len(texts)
        with torch.inference_mode():
            for k in range(0, len(order), self.max_batch_size):
                idx = order[k:k + self.max_batch_size]
                enc = self.tokenizer(
                    [texts[i] for i in idx], return_tensors="pt", padding=True, truncation=True,
                    max_length=self.max_input_tokens,
                ).to(self.device)
                generated = self.model.generate(**enc, **kwargs).tolist()
                for i, row in zip(idx, generated):
                    # drop the decoder start and the forced language code (M2M100 codes are not "special")
                    k = 1 if row and row[0] == start else 0
                    if forced is not None and k < len(row) and row[k] == forced:
                        k += 1
                    out[i] = self.tokenizer.decode(row[k:], skip_special_tokens=True).strip()
        return out  # type: ignore[return-value]


# --------------------------------------------------------------------------------------------
# prompted LLM


PROMPT = "Translate the following text from {src} to {tgt}.\n{text}"


class LLMBackend:
    name = "llm"
    family = "llm"

    def __init__(
        self,
        model_path: str,
        *,
        engine: str = "hf",
        max_decoding_length: int = 512,
        max_batch_size: int = 32,
        engine_options: Optional[dict] = None,
        system_prompt: Optional[str] = None,
        **_: Any,
    ):
        from sdrrl_ray.engines.base import SamplingSettings, build_engine

        self.engine = build_engine(engine, model_path, **(engine_options or {}))
        self.sampling = SamplingSettings(max_new_tokens=max_decoding_length, temperature=0.0)
        self.system_prompt = system_prompt
        self.max_batch_size = max_batch_size

    def prompt(self, segment: str, src_iso: str, tgt_iso: str) -> str:
        from sdrrl_ray.prompts import render_prompt

        question = PROMPT.format(src=languages.get(src_iso).name, tgt=languages.get(tgt_iso).name, text=segment)
        return render_prompt(self.engine.tokenizer, question, self.system_prompt)

    def translate_batch(self, segments: list[str], src_iso: str, tgt_iso: str) -> list[str]:
        prompts = [self.prompt(s, src_iso, tgt_iso) for s in segments]
        out: list[str] = []
        for k in range(0, len(prompts), self.max_batch_size):
            out += [r.text.strip() for r in self.engine.generate(prompts[k:k + self.max_batch_size], self.sampling)]
        return out
