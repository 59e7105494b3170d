"""The project's demo assets: data written for the project and a tiny LM built offline from it.

>>> from sdrrl_ray.demo import demo_model_path, demo_instructions_path
>>> path = demo_model_path()  # doctest: +SKIP  (builds once, about 1-2 minutes on 2 cores)

Importing this package loads neither torch nor transformers.
"""

from sdrrl_ray.demo.assets import demo_data_dir, demo_instructions_path
from sdrrl_ray.demo.build import demo_model_path

__all__ = ["demo_data_dir", "demo_instructions_path", "demo_model_path"]
