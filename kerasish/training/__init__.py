"""Training loops (trainer), per-batch steps (step) and compile settings."""
