"""Known-answer worlds and the calibration of the claim rules (power and false-positive rate)."""
