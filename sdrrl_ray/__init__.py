"""sdrrl_ray: SDRRL (Self-Distillation from Resource-Rich Languages) as a Ray pipeline.

Layers, imported only downwards (``tests/unit/test_structure.py`` checks it):

- ``app``: the ``sdrrl`` CLI, the Ray Job entry and the one phase table;
- ``planner``: the cost planner, on the phases' public functions;
- ``transfer``, ``train``, ``evaluation``: the three phases (they never import each other);
- ``assets``: the one resolver of model references and demo assets (``demo/`` is reached through it);
- ``stages``: one Ray Data step per module, each declaring its columns;
- ``engines``, ``mt``, ``filters``, ``codeswitch``, ``parallel``, ``ingest``: the libraries stages use;
- ``config``, ``schema``, ``layout``, ``storage``, ``runtime``, ``errors``, ``extras``, ``languages``, ``seeding``,
  ``prompts``, ``provenance``, ``generation_cache``, ``execution_stats``: the low layers.

Importing the package loads no heavy engine (vllm, deepspeed, ctranslate2, lingua, fire).
"""

__version__ = "0.1.0"
