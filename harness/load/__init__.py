"""Stage 1 -- load: token sets (datasets), models (transformer-lens / HF), SAEs (sae-lens, sparsify), hub names.

Data flows one way: load -> activations -> pairing -> scoring -> experiments -> verdicts -> report.
"""
