"""Demo assets: a tiny random backbone and synthetic data, built offline in seconds (`make demo`)."""
