"""Machine translation: backends (ct2, hf, llm; :mod:`.backends`), the language codes a model uses
(:mod:`.codes`), CTranslate2 conversion (:mod:`.convert`) and sentence segmentation (:mod:`.segment`).
The Ray Data step is :mod:`sdrrl_ray.stages.translate`."""
