"""Typed, frozen configuration for every phase (:mod:`.sections`), loaded from YAML with
``key=value`` overrides (:mod:`.load`)."""

from sdrrl_ray.config.load import check, from_dict, load_config, parse_overrides, translate_family, vllm_available
from sdrrl_ray.config.sections import (
    ActorPoolConfig,
    AnswerConfig,
    CodeSwitchConfig,
    Config,
    DataConfig,
    EvalConfig,
    FilterConfig,
    GenerateConfig,
    LanguagesConfig,
    ParallelConfig,
    QEConfig,
    RayConfig,
    TrainConfig,
    TransferConfig,
    TranslateConfig,
)

__all__ = [
    "ActorPoolConfig", "AnswerConfig", "CodeSwitchConfig", "Config", "DataConfig", "EvalConfig", "FilterConfig",
    "GenerateConfig", "LanguagesConfig", "ParallelConfig", "QEConfig", "RayConfig", "TrainConfig", "TransferConfig",
    "TranslateConfig", "check", "from_dict", "load_config", "parse_overrides", "translate_family", "vllm_available",
]
