"""Judges of one translation: rules (:mod:`.rules`), language-ID (:mod:`.langid`), optional CometKiwi QE
(:mod:`.qe`, scored in its own environment by :mod:`.qe_worker`). The Ray Data step that applies
them is :mod:`sdrrl_ray.stages.filter`."""
