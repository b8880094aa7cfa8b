"""Stage 2 -- activations: residual stream at the SAE's site, SAE codes (cached), pre-flight reconstruction check."""
