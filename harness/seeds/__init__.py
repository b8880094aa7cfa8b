"""The seed-stability sub-pipeline (Paulo & Belrose 2025): seed-SAE training, Hungarian overlap, seed-pair experiments."""
