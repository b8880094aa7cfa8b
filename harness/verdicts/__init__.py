"""Stage 6 -- verdicts: the claim inventory (records with rules) and the verdict rule."""
