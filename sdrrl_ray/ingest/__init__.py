"""Instruction input: record layouts (:mod:`.records`) and files -> validated rows (:mod:`.files`)."""
