"""A counting reverse proxy on loopback: how many requests of each kind a commit path sends,
and how many bytes it makes the store copy server-side.

Every client under test (boto3, s3fs, gcsfs, Luigi, obstore's Rust client) is pointed at the
proxy instead of the server, so all of them are counted the same way, on the wire, without
hooks into any of them. The proxy only counts; the timed runs go to the server directly.

The proxy is `targets.testing.proxy.Proxy` (which can also break requests on purpose, for
the fault tests) with a classifier: `s3_kind` or `gcs_kind`.
"""

from __future__ import annotations

from targets.testing.proxy import Classifier, Exchange, SizeOf, gcs_kind, s3_kind
from targets.testing.proxy import Proxy as CountingProxy

__all__ = ["Classifier", "CountingProxy", "Exchange", "SizeOf", "gcs_kind", "s3_kind"]
