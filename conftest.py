"""Test set-up shared by the whole suite: one fixture module per backend."""

pytest_plugins = [
    "tests.fixtures.local",
    "tests.fixtures.s3",
    "tests.fixtures.gcs",
    "tests.fixtures.hdfs",
]
