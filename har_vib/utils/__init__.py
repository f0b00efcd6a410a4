"""Small helpers shared by every layer (no torch, no Hydra)."""
