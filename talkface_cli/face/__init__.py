"""Face models (ICT-FaceKit by default, FLAME through smplx), their regions and landmarks."""
