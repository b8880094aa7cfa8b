"""Stage 4 -- scoring: SVCCA and RSA (float64), permutation nulls, p-values, size-matched and Test-2 draws."""
