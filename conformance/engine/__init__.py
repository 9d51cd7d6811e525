"""Run and record: plans, the sans-I/O player, traces, events, and the runner that drives them."""
