"""Network drivers for the client side: they move frames for the sans-I/O player and nothing else."""
