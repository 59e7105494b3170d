"""Translation backends behind one call: ``translate_batch(segments, src_iso, tgt_iso) -> translations``.

- ``ct2``: CTranslate2 (NLLB-200, M2M100, Marian). An HF folder is converted on first use
  (:mod:`.convert`); a folder with ``model.bin`` is loaded as it is (it must
  hold the tokenizer files too, as :mod:`.convert` writes them).
- ``hf``: transformers ``AutoModelForSeq2SeqLM.generate`` (beam search, ``forced_bos_token_id``).
- ``llm``: prompted translation through a generation engine (``hf`` or ``vllm``), greedy.

Precision (``compute_type="auto"``): int8 with ct2 on CPU, float16 on GPU (ct2 and hf); float32
with hf on CPU. The device is whatever the process sees (``ctranslate2.get_cuda_device_count()``,
``torch.cuda.is_available()``), never a config value.

Language codes: :mod:`.codes`. Constructors take one :class:`BackendOptions`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from dataclasses import dataclass, field
from typing import Optional, Protocol

from sdrrl_ray import languages
from sdrrl_ray.engines.base import EngineOptions
from sdrrl_ray.errors import UserError
from sdrrl_ray.mt.codes import LanguageCodes, detect_family

log = logging.getLogger("sdrrl_ray")

class TranslationBackend(Protocol):
    name: str
    family: str

    def translate_batch(self, segments: list[str], src_iso: str, tgt_iso: str) -> list[str]:
        """One translation per segment, in order."""
        ...


@dataclass(frozen=True)
class BackendOptions:
    """Everything a backend is built with besides the model (a misspelt option is a TypeError here)."""

    family: str = "auto"  # ct2, hf: nllb | m2m100 | marian | auto (from the tokenizer)
    beam_size: int = 4
    max_input_tokens: int = 256
    max_decoding_length: int = 512
    min_decoding_length: int = 0
    compute_type: str = "auto"  # auto: int8 with ct2 on CPU, float16 on GPU, float32 with hf on CPU
    num_threads: Optional[int] = None
    max_batch_size: int = 32
    trust_remote_code: bool = False  # hf
    engine: str = "hf"  # llm: the generation engine that translates
    engine_options: EngineOptions = field(default_factory=EngineOptions)  # llm
    system_prompt: Optional[str] = None  # llm


def build_backend(backend: str, model_path: str, options: BackendOptions = BackendOptions()) -> TranslationBackend:
    """Load ``backend`` ("ct2", "hf" or "llm") on ``model_path``; heavy imports happen here. A model
    given as an object-storage URL is copied to this node's disk first."""
    from sdrrl_ray.storage import local_model_path

    if backend not in ("ct2", "hf", "llm"):
        raise UserError(f"translate.backend={backend!r} is not one of ['ct2', 'hf', 'llm']")
    model_path = local_model_path(model_path)
    if backend == "ct2":
        return CT2Backend(model_path, options)
    if backend == "hf":
        return HFBackend(model_path, options)
    return LLMBackend(model_path, options)


def model_positions(model_path: str) -> Optional[int]:
    """How many positions the seq2seq model in ``model_path`` has (its Hugging Face ``config.json``:
    ``max_position_embeddings``); None when the folder does not say (a CTranslate2 folder)."""
    try:
        with open(os.path.join(model_path, "config.json"), encoding="utf-8") as fh:
            value = json.load(fh).get("max_position_embeddings")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, int) and value > 0 else None


def fit_to_model(options: BackendOptions, positions: Optional[int], model_path: str) -> BackendOptions:
    """``options`` with the input and decoding lengths cut to what the model can hold (a decoder
    run past its positions writes garbage or fails the batch); one warning when it cuts."""
    if positions is None:
        return options
    limit = positions - 2  # the language-code prefix and the end token take positions too
    cut = {k: limit for k in ("max_input_tokens", "max_decoding_length") if getattr(options, k) > limit}
    if not cut:
        return options
    log.warning("translate: %s exceed(s) the %d positions of %s; using %d",
                ", ".join(f"{k}={getattr(options, k)}" for k in cut), positions, model_path, limit)
    return dataclasses.replace(options, **cut)


def _precision(compute_type: str, gpu: bool) -> str:
    if compute_type in ("auto", "default", None):
        return "float16" if gpu else "int8"
    return compute_type


# --------------------------------------------------------------------------------------------
# CTranslate2


class CT2Backend:
    name = "ct2"

    def __init__(self, model_path: str, options: BackendOptions = BackendOptions()):
        import ctranslate2
        from transformers import AutoTokenizer

        from sdrrl_ray.mt.convert import converted_folder, is_ct2_folder

        o = fit_to_model(options, model_positions(model_path), model_path)

        self.device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
        self.compute_type = _precision(o.compute_type, self.device == "cuda")
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
        self.family = detect_family(self.tokenizer, o.family, model_path)
        self.codes = LanguageCodes(self.tokenizer, self.family, model_path)
        threads = o.num_threads or int(os.environ.get("OMP_NUM_THREADS") or 0) or min(4, os.cpu_count() or 1)
        self.num_threads = threads
        self.translator = ctranslate2.Translator(
            self.ct2_path, device=self.device, compute_type=self.compute_type, intra_threads=threads, inter_threads=1
        )
        self.options = o

    def translate_batch(self, segments: list[str], src_iso: str, tgt_iso: str) -> list[str]:
        if not segments:
            return []
        texts = self.codes.source_texts(segments, src_iso, tgt_iso)
        ids = self.tokenizer(texts, truncation=True, max_length=self.options.max_input_tokens)["input_ids"]
        source = [self.tokenizer.convert_ids_to_tokens(row) for row in ids]
        tgt_token = self.codes.token(tgt_iso)
        prefix = [[tgt_token]] * len(source) if tgt_token else None
        results = self.translator.translate_batch(
            source,
            target_prefix=prefix,
            beam_size=self.options.beam_size,
            max_batch_size=self.options.max_batch_size,
            max_input_length=self.options.max_input_tokens,
            max_decoding_length=self.options.max_decoding_length,
            min_decoding_length=self.options.min_decoding_length,
        )
        out = []
        for res in results:
            tokens = res.hypotheses[0]
            if tgt_token and tokens and tokens[0] == tgt_token:
                tokens = tokens[1:]
            out.append(self.tokenizer.decode(self.tokenizer.convert_tokens_to_ids(tokens),
                                             skip_special_tokens=True).strip())
        return out


# --------------------------------------------------------------------------------------------
# transformers


class HFBackend:
    name = "hf"

    def __init__(self, model_path: str, options: BackendOptions = BackendOptions()):
        import torch
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        o = fit_to_model(options, model_positions(model_path), model_path)
        compute_type, trust_remote_code = o.compute_type, o.trust_remote_code
        if o.num_threads:
            torch.set_num_threads(o.num_threads)
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
        self.family = detect_family(self.tokenizer, o.family, model_path)
        self.codes = LanguageCodes(self.tokenizer, self.family, model_path)
        self.model = AutoModelForSeq2SeqLM.from_pretrained(
            model_path, dtype=getattr(torch, precision), trust_remote_code=trust_remote_code, use_safetensors=True
        ).to(self.device)
        self.model.eval()
        self.options = o

    def translate_batch(self, segments: list[str], src_iso: str, tgt_iso: str) -> list[str]:
        import torch

        if not segments:
            return []
        texts = self.codes.source_texts(segments, src_iso, tgt_iso)
        tgt_token = self.codes.token(tgt_iso)
        o = self.options
        kwargs: dict = dict(num_beams=o.beam_size, max_new_tokens=o.max_decoding_length, do_sample=False)
        if o.min_decoding_length:
            kwargs["min_new_tokens"] = o.min_decoding_length
        if tgt_token:
            kwargs["forced_bos_token_id"] = self.tokenizer.convert_tokens_to_ids(tgt_token)
        start = self.model.generation_config.decoder_start_token_id
        if start is None:
            start = self.model.config.decoder_start_token_id
        forced = kwargs.get("forced_bos_token_id")
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths share a batch
        out: list[Optional[str]] = [None] * len(texts)
        with torch.inference_mode():
            for k in range(0, len(order), self.options.max_batch_size):
                idx = order[k:k + self.options.max_batch_size]
                enc = self.tokenizer(
                    [texts[i] for i in idx], return_tensors="pt", padding=True, truncation=True,
                    max_length=self.options.max_input_tokens,
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

    def __init__(self, model_path: str, options: BackendOptions = BackendOptions()):
        from sdrrl_ray.engines.base import SamplingSettings
        from sdrrl_ray.engines.build import build_engine

        self.engine = build_engine(options.engine, model_path, options.engine_options)
        self.sampling = SamplingSettings(max_new_tokens=options.max_decoding_length, temperature=0.0)
        self.system_prompt = options.system_prompt
        self.max_batch_size = options.max_batch_size

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
