"""The transfer-set phase (``sdrrl transfer-set``): :mod:`.plan` wires the stages into one Ray Data
plan, :mod:`.run` runs it into ``OUT`` with resume and a manifest (:mod:`.counts`,
:mod:`.fingerprint`), :mod:`.parallel` adds the parallel-corpus rows, :mod:`.card` writes the dataset card."""
