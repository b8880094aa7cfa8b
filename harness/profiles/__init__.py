"""Run profiles: which model pair, SAE sets, layers, tokens and permutation counts a run uses."""
