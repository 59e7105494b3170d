"""Machine translation of the transfer set: backends (ct2, hf, llm), long-text segmentation, the stage.

ctranslate2, torch and transformers are imported only when a backend is built (inside the actor).
"""

from sdrrl_ray.translate.backends import TranslationBackend, build_backend
from sdrrl_ray.translate.models import check_translation_model, resolve_translation_model
from sdrrl_ray.translate.segment import Plan, reassemble, segment
from sdrrl_ray.translate.stage import Translator

__all__ = [
    "Plan",
    "TranslationBackend",
    "Translator",
    "build_backend",
    "check_translation_model",
    "reassemble",
    "resolve_translation_model",
    "segment",
]
