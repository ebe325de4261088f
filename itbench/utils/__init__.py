"""Small helpers shared across itbench: atomic writes and content hashing."""
