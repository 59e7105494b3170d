"""Typed, frozen configuration for every phase (:mod:`.sections`), loaded from YAML with
``key=value`` overrides (:mod:`.load`), both read as YAML 1.2 by :func:`load_yaml` (:mod:`.yaml12`)."""

from sdrrl_ray.config.arms import CompareConfig
from sdrrl_ray.config.load import (
    check,
    from_dict,
    load_config,
    parse_overrides,
    read_config_file,
    translate_family,
    vllm_available,
    with_settings,
)
from sdrrl_ray.config.sections import (
    ActorPoolConfig,
    AnswerConfig,
    CodeSwitchConfig,
    CometConfig,
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
from sdrrl_ray.config.yaml12 import load as load_yaml

__all__ = [
    "ActorPoolConfig", "AnswerConfig", "CodeSwitchConfig", "CometConfig", "Config", "DataConfig", "EvalConfig",
    "FilterConfig", "GenerateConfig", "LanguagesConfig", "ParallelConfig", "QEConfig", "RayConfig", "TrainConfig",
    "TransferConfig", "TranslateConfig", "check", "from_dict", "load_config", "load_yaml", "parse_overrides",
    "read_config_file", "translate_family", "vllm_available", "with_settings", "CompareConfig",
]
