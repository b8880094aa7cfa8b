"""Executable claims of Lan et al. 2024 and Paulo & Belrose 2025 (one module per claim family)."""
