"""Offline face tracking: MediaPipe's bundled BlazeFace + Face Mesh models run with ai-edge-litert,
then fitting of a face model to the landmarks."""
