"""Entry points: the ``sdrrl`` command (:mod:`.cli`), the Ray Job entry behind ``jobs/*.py``
(:mod:`.jobs`), the one phase table both run (:mod:`.phases`) and the one mapping of errors to
exit codes (:mod:`.exits`)."""
