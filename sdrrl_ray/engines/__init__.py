"""Generation engines behind one small interface (:class:`~sdrrl_ray.engines.base.Engine`):
``hf`` (transformers ``generate``, :mod:`.hf`) and ``vllm`` (``vllm.LLM``, :mod:`.vllm`), built by
:func:`~sdrrl_ray.engines.build.build_engine` inside the actor that uses them, so importing
:mod:`sdrrl_ray` never loads vllm."""
