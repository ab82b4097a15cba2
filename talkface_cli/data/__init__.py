"""Clip stores (manifest + one file per clip) and torch datasets over them."""
