"""What lives under ``OUT`` (:mod:`.paths`), the commit protocol of the transfer set's parts and
their one reader (:mod:`.parts`), and the Ray Data sink that writes them (:mod:`.sink`)."""
