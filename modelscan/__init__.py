"""modelscan: list local GGUF and MLX models exactly as LM Studio's GET /api/v1/models does."""
