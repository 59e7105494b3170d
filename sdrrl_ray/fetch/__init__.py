"""Fetching the public data the paper uses (``sdrrl data fetch``): one URL-based downloader
(:mod:`.http`: temporary file, atomic rename, resume, size and checksum checks, unpacking) and the
sources with their real URLs and the layout the configs and readers expect (:mod:`.sources`)."""
