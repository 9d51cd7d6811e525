"""Implementations that deviate the way real ones do, with the verdicts expected of them."""
