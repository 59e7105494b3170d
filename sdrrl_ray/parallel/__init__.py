"""Parallel corpora: reading sentence pairs (:mod:`.corpus`) and the translation / completion task rows
made from them (:mod:`.tasks`)."""
