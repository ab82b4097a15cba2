"""Corpus recipes for `talkface prep`: one module per corpus, one pattern for all of them.

discover (find files, parse labels) -> process clips in parallel (resumable, one bad file never
stops the rest) -> write the manifest with seeded splits -> validate. See README.md.
"""
