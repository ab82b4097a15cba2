"""talkface: speech to an emotional, lip-synced 3D talking face (the EcoFace method)."""

__version__ = "0.1.0"
