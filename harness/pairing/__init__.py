"""Stage 3 -- pairing: max-correlation partners, 1-1 rules, top tokens, token filters, concept subsets."""
