"""Audio: loading and resampling to 16 kHz mono, content features, feature cache."""
