"""Tools for testing pipelines and backends: simulated stores that follow each store's
documented semantics, behind the same interfaces as the real clients, so the real commit
protocols run unchanged against them."""
