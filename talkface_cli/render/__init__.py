"""Rendering: MP4 writer (pyrender offscreen + ffmpeg) and a differentiable torch renderer."""
