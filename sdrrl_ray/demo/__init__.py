"""The project's demo: data written for the project (:mod:`.assets`, written by :mod:`.datagen` from
:mod:`.lexicon`) and tiny models built offline from it (:mod:`.build`: the LM; :mod:`.mt`: the
translation models). Code outside this package reaches it through :mod:`sdrrl_ray.assets` only.

Importing this package loads neither torch nor transformers.
"""
