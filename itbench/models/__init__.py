"""Checkpoints (base / LoRA / full / method-improved): recipes, training, loading, the zoo."""
