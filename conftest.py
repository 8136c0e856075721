"""Test set-up shared by the whole suite: one fixture module per backend, and the
Hypothesis profiles of the property tests (docs/testing.md)."""

from hypothesis import HealthCheck, settings

pytest_plugins = [
    "tests.fixtures.local",
    "tests.fixtures.s3",
    "tests.fixtures.gcs",
    "tests.fixtures.azure",
    "tests.fixtures.hdfs",
    # tests that use the S3 or GCS server first need it to enforce exclusive creates
    "tests.faults.canary",
]

_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]

# default: what CI runs. Derandomized, so a run explores the same interleavings each time
# and its duration is stable; the whole property suite stays within a few minutes.
settings.register_profile(
    "default",
    max_examples=200,
    stateful_step_count=50,
    deadline=None,
    derandomize=True,
    suppress_health_check=_QUIET,
)
# thorough: long, random runs (pytest --hypothesis-profile=thorough -m property).
settings.register_profile(
    "thorough",
    max_examples=5000,
    stateful_step_count=100,
    deadline=None,
    suppress_health_check=_QUIET,
)
settings.load_profile("default")
