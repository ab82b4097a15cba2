"""One training loop for every stage: seeded, resumable, DDP-ready, publishing to the registry."""
