"""Reproducibility harness for Lan et al. 2024 (SAE feature universality) and
Paulo & Belrose 2025 (SAE seed stability). No pytest imports in this package."""

__version__ = "0.1.0"
