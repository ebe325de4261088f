"""The synthetic knowledge world and the tiny model organisms trained on it."""
