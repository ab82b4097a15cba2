"""The method's networks: a config dataclass and nn.Modules per file, no file I/O."""
