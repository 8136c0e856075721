"""The backend registry: `targets.fs.register`, and backends installed as distributions."""
