"""``sdrrl plan``: tokens per language, device-hours per phase and cost for a node type, before a run.

Modules: :mod:`.tokens` (counts with the real tokenizer), :mod:`.rates` (throughput from
``benchmarks/results`` or declared defaults), :mod:`.nodes` (node types and prices, ``nodes.yaml``),
:mod:`.estimate` (the arithmetic), :mod:`.calibrate` (``limit=N``: a real transfer-set run on N items),
:mod:`.planner` (wiring), :mod:`.report` (tables and JSON).
"""
