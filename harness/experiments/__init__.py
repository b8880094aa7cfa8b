"""Stage 5 -- experiments: whole-space and semantic comparisons of two feature spaces, layer grids, rehearsal."""
