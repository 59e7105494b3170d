"""sdrrl_ray: SDRRL (Self-Distillation from Resource-Rich Languages) as a Ray pipeline.

Importing the package loads no heavy engine (vllm, deepspeed, ctranslate2, lingua, fire).
"""

from sdrrl_ray.config import Config, load_config
from sdrrl_ray.errors import ConfigError, UserError

__version__ = "0.1.0"
__all__ = ["Config", "ConfigError", "UserError", "load_config", "__version__"]
