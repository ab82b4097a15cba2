"""talkface: speech to an emotional, lip-synced 3D talking face (the EcoFace method)."""

import os

__version__ = "0.1.0"

# OpenCV's bundled FFmpeg prints decoder chatter (e.g. on truncated files) straight to stderr;
# talkface reports such files itself, as one line.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
