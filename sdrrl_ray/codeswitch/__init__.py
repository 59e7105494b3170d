"""Code-switching library: MUSE dictionaries (:mod:`.lexicon`), word segmentation (:mod:`.words`),
the per-text switch (:mod:`.switch`). The Ray Data step is :mod:`sdrrl_ray.stages.code_switch`."""
