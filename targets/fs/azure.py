"""Azure Blob Storage: conditional writes (``If-None-Match: *``) are the commit primitive.

A file output is one conditional request straight to its final name: Put Blob up to one
part, else blocks staged with Put Block (invisible) and one Put Block List that carries
the condition. No temporary blob, no copy. Directory outputs use the claim -> publish ->
``_SUCCESS`` protocol of `targets.fs.objectstore`; the `AtomicFS` is
`targets.fs.objectstore.ObjectStoreFS`. This module is what is Azure's own: the
`ObjectStore` adapter over azure-storage-blob (`AzureStore`), the URLs, storage options and
credentials, and the probe that the account honours ``If-None-Match``. adlfs serves listing
and reading for tools through ``AtomicFS.fsspec``.

URLs are ``az://<container>/<path>`` and ``abfs://<container>/<path>`` (also
``abfs://<container>@<account>.dfs.core.windows.net/<path>``, adlfs's form, which names the
account). Storage options are adlfs's: ``account_name``, ``account_key``, ``sas_token``,
``connection_string``, ``credential``, ``client_id`` / ``client_secret`` / ``tenant_id``,
``anon``, ``account_host``, ``connection_timeout``, ``read_timeout``... (unset ones are read
from the ``AZURE_STORAGE_*`` variables, as adlfs does); without any credential,
``DefaultAzureCredential`` when azure-identity is installed, else anonymous access. Plus
this library's ``part_size`` (bytes per block, default 8 MiB; files below it take one
request), ``stale_claim_after``, ``publish_concurrency`` and ``retry_total`` (how many times
the client resends a request that failed for a transient reason, default 3: the client's
own default would retry a stopped server for about 85 s). Any other name is refused with
`InvalidTarget`. Credentials never appear in errors, logs or reprs.

What Azurite enforces and what only a real account can confirm: docs/azure.md.
"""

from __future__ import annotations

import builtins
import contextlib
import datetime as _dt
import io
import os
import re
import threading
import time
import warnings
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import IO, Any, BinaryIO, ClassVar

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import (
    BlobBlock,
    BlobClient,
    BlobPrefix,
    ContainerClient,
)

from targets.errors import (
    CommitError,
    InvalidTarget,
    TargetError,
    UnsupportedGuarantee,
)
from targets.fs import objectstore
from targets.fs._azure_client import (
    OWN_OPTIONS,
    check_names,
    make_client,
    split_account,
    valid_options,
    with_environment,
)
from targets.fs._azure_errors import error_code, map_errors
from targets.fs._names import new_token
from targets.fs.base import Capabilities, Guarantee
from targets.fs.objectstore import ObjectStoreFS, conditional
from targets.fs.objectstore.fs import (
    check_publish_concurrency,
    check_storage_options,
)
from targets.fs.objectstore.store import writer_metadata

__all__ = ["HNS_CAPABILITIES", "AzureFS", "AzureStore", "block_id", "parse_block_id"]

DEFAULT_PART_SIZE = 8 << 20
"""Files up to this size are written with one Put Blob; larger ones are staged in blocks of
this size."""
MAX_BLOCK_SIZE = 4000 << 20
"""Azure's largest block (service version 2019-12-12 and later)."""
DEFAULT_RETRIES = 3
_PROBE_PREFIX = ".targets-probe-"

AZURE_TOKEN_KEY = "targets_writer"
"""The metadata name of the writer token on Azure: metadata names must be C# identifiers
(``targets-writer`` is refused with 400 ``InvalidMetadata``), so the adapter writes
`objectstore.TOKEN_KEY` under this name and reads it back under the protocol's name."""

# An upload id is "<7 hex: nonce><t|r>-<32 hex>": the writer token ("t") when the metadata
# carries one, else random ("r"). A block id is "<upload id>-<5 digits: part number>": 47
# characters (the client sends it base64-encoded, 64 characters, Azure's limit), the same
# length for every block of every writer (Azure refuses block ids of different lengths on
# one blob) and unique per writer (a block id staged twice on one blob is replaced by the
# last stage, so two writers sharing ids could commit each other's bytes).
_UPLOAD_RE = re.compile(r"^[0-9a-f]{7}[tr]-[0-9a-f]{32}$")
_TOKEN_RE = re.compile(r"^[0-9a-f]{32}$")
_BLOCK_RE = re.compile(r"^([0-9a-f]{7}[tr]-[0-9a-f]{32})-([0-9]{5})$")
MAX_PARTS = 50_000
"""Azure's limit of committed blocks per blob (the part number has five digits)."""

HNS_CAPABILITIES = Capabilities(
    noreplace_rename=True,
    noreplace_rename_dir=True,
    exclusive_create=True,
    atomic_replace=True,
    deferred_publish=True,
    server_side_copy=True,
)
"""What an account with a hierarchical namespace (ADLS Gen2) offers: the DFS endpoint's
Path - Create with a rename source and ``If-None-Match: *`` on the destination renames a
file or a whole directory atomically, only if nothing is there. Declared, not used: this
backend commits with the flat-namespace protocol on every account (Azurite, the tested
server, has no DFS endpoint), and only a real ADLS Gen2 account can confirm the rename."""

_probed: dict[tuple[str, str], bool] = {}
"""(account URL, container) -> does the account honour If-None-Match? One probe per
container and process."""
_probe_lock = threading.Lock()


# -- block and upload ids -------------------------------------------------------------------


def block_id(upload_id: str, number: int) -> str:
    """The block id of part ``number`` (1-based) of the upload ``upload_id``."""
    if not 1 <= number < 100_000:
        raise InvalidTarget(f"part number {number} is out of range 1..99999 for Azure blocks")
    return f"{upload_id}-{number:05d}"


def parse_block_id(value: str) -> tuple[str, int] | None:
    """``(upload id, part number)`` of a block id this library staged, else None."""
    m = _BLOCK_RE.match(value)
    return (m[1], int(m[2])) if m else None


def _to_azure(metadata: Mapping[str, str]) -> dict[str, str]:
    return {
        (AZURE_TOKEN_KEY if k == objectstore.TOKEN_KEY else k.replace("-", "_")): v
        for k, v in metadata.items()
    }


def _from_azure(metadata: Mapping[str, str] | None) -> dict[str, str]:
    out = {}
    for k, v in (metadata or {}).items():
        name = k.lower()
        out[objectstore.TOKEN_KEY if name == AZURE_TOKEN_KEY else name] = v
    return out


def _etag(value: Any) -> str:
    """An etag in the one form this adapter hands out, quoted: Azure's answers quote it in
    headers and not in listings, and a conditional request must name it as headers do."""
    text = str(value or "")
    return text if not text or text.startswith('"') else f'"{text}"'


def _answered_at(response: Any) -> _dt.datetime | None:
    """The store's clock when it sent ``response`` (an azure-core pipeline response)."""
    return objectstore.http_date(response.http_response.headers.get("Date"))


# -- the store ------------------------------------------------------------------------------


class _Download(io.RawIOBase):
    """The body of one download: the client pins every range it fetches to the etag of the
    first answer, so one version of the blob, never a mix."""

    def __init__(self, downloader: Any, url: str) -> None:
        super().__init__()
        self._downloader = downloader
        self._url = url

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        with map_errors(self._url, "read"):
            data = self._downloader.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        return n


class AzureStore(objectstore.ObjectStore):
    """One Azure Blob container behind `ObjectStore`, over azure-storage-blob (thread-safe).

    * `put` is one Put Blob; ``if_absent`` sends ``If-None-Match: *`` (Azure answers 409
      ``BlobAlreadyExists``), ``if_match`` sends ``If-Match: <etag>`` (412).
    * Multipart uploads are staged blocks: `create_upload` sends nothing and returns an
      upload id that names the writer (a nonce and the writer token); `upload_part` is one
      Put Block whose id is unique to the upload and of fixed length; `complete_upload` is
      one Put Block List with the same conditions as `put`. Any process can complete an
      upload whose id it is given (the writer token is in the id); other metadata is known
      only to the process that created the upload.
    * `list_uploads` lists the uncommitted blobs (``include=uncommittedblobs``) under the
      prefix and reads the block list of each one that has no committed content: each upload
      id among its blocks is a pending upload, its time the blob's creation. Blocks staged
      onto a name that already holds a committed blob are not listed (only Get Block List on
      that blob shows them); they go with the next commit of that name, or after 7 days.
    * `abort_upload` is best effort: Azure has no call that deletes uncommitted blocks.
      Where the name holds nothing committed and only this upload's blocks, the name is
      deleted, so that the upload is no longer listed (a real account may answer 404,
      ignored). The blocks themselves stay until the next commit of the name discards them
      or Azure collects them after 7 days; until then a Put Block List naming them still
      publishes them (Azurite does), so an abort is not final on Azure.
    * `copy` is Copy Blob (``start_copy_from_url`` on the same account), with
      ``If-None-Match: *`` for ``if_absent``, waited for until it is done.
    * `delete` with ``if_match`` sends ``If-Match``; a 412 where nothing is left is "absent".
    * A 409 ``BlobAlreadyExists`` to a conditional Put Blob on a name that holds no committed
      blob is a `ConditionalConflict` (retryable): Azurite answers it while another writer
      has staged blocks under the name (see docs/azure.md).
    """

    scheme = "az"

    def __init__(
        self,
        container: ContainerClient,
        *,
        part_size: int = DEFAULT_PART_SIZE,
    ) -> None:
        if not 1 <= part_size <= MAX_BLOCK_SIZE:
            raise InvalidTarget(
                f"part_size={part_size} must be between 1 byte and {MAX_BLOCK_SIZE} bytes "
                "(Azure's largest block)"
            )
        self.container = container
        self.bucket = str(container.container_name)
        self.part_size = part_size
        self.endpoint = _account_url(container)
        self._uploads: dict[str, dict[str, str]] = {}
        """Metadata of the uploads this process created, by upload id."""
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"AzureStore(container={self.bucket!r}, account={self.endpoint!r})"

    def _errors(self, key: str, action: str) -> contextlib.AbstractContextManager[None]:
        return map_errors(self.url(key), action, key, self.endpoint)

    def _blob(self, key: str) -> BlobClient:
        return self.container.get_blob_client(key)

    # -- writes ---------------------------------------------------------------------------

    @staticmethod
    def _conditions(if_absent: bool, if_match: str | None) -> dict[str, Any]:
        if if_match is not None:
            return {"etag": if_match, "match_condition": MatchConditions.IfNotModified}
        return {"if_none_match": "*"} if if_absent else {}

    def _refused(self, key: str, exc: HttpResponseError) -> objectstore.StoreCondition:
        """What a 409 ``BlobAlreadyExists`` to a conditional write means: an object is there
        (`PreconditionFailed`), or nothing is committed under the name and the server
        refused because of another writer's staged blocks (Azurite does), which is a
        conflict to retry, not an object in the way."""
        if self.head(key) is None:
            return objectstore.ConditionalConflict(
                key,
                "refused (409) although no blob is committed there: another writer's "
                "uncommitted blocks are staged under the name",
            )
        return objectstore.PreconditionFailed(key, "a blob exists (409)")

    def put(
        self,
        key: str,
        data: bytes | BinaryIO,
        *,
        metadata: Mapping[str, str],
        if_absent: bool,
        if_match: str | None = None,
    ) -> str:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            data.seek(0)
            data = data.read()
        body = bytes(data)
        try:
            with self._errors(key, "write"):
                try:
                    resp = self._blob(key).upload_blob(
                        body,
                        length=len(body),
                        overwrite=True,
                        metadata=_to_azure(metadata),
                        **self._conditions(if_absent, if_match),
                    )
                except HttpResponseError as exc:
                    if if_absent and if_match is None and error_code(exc)[0] == "BlobAlreadyExists":
                        raise self._refused(key, exc) from None
                    raise
        except objectstore.ObjectNotFound:  # If-Match onto nothing
            raise objectstore.PreconditionFailed(key, "no blob is there") from None
        return _etag(resp["etag"])

    def create_upload(self, key: str, *, metadata: Mapping[str, str], if_absent: bool) -> str:
        """No request: Azure has no upload to create. The id names the writer (a nonce and
        its token), so that its blocks never share an id with another writer's."""
        token = metadata.get(objectstore.TOKEN_KEY, "")
        nonce = os.urandom(4).hex()[:7]
        if _TOKEN_RE.match(token):
            upload_id = f"{nonce}t-{token}"
        else:
            upload_id = f"{nonce}r-{os.urandom(16).hex()}"
        with self._lock:
            self._uploads[upload_id] = dict(metadata)
        return upload_id

    def _check_upload(self, key: str, upload_id: str) -> None:
        if not _UPLOAD_RE.match(upload_id):
            raise objectstore.NoSuchUpload(key, f"{upload_id!r} is not an Azure upload id")

    def upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> str:
        self._check_upload(key, upload_id)
        block = block_id(upload_id, number)
        with self._errors(key, "upload a part of"):
            self._blob(key).stage_block(block, bytes(data), length=len(data))
        return block

    def _metadata_of(self, upload_id: str) -> dict[str, str]:
        with self._lock:
            known = self._uploads.get(upload_id)
        if known is not None:
            return known
        head, _, token = upload_id.partition("-")
        return writer_metadata(token) if head.endswith("t") else {}

    def complete_upload(
        self, key: str, upload_id: str, parts: Sequence[tuple[int, str]], *, if_absent: bool
    ) -> str:
        self._check_upload(key, upload_id)
        blocks = [BlobBlock(block_id=block_id(upload_id, n)) for n, _ in sorted(parts)]
        with self._errors(key, "publish"):
            try:
                resp = self._blob(key).commit_block_list(
                    blocks,
                    metadata=_to_azure(self._metadata_of(upload_id)),
                    **self._conditions(if_absent, None),
                )
            except HttpResponseError as exc:
                if error_code(exc)[0] != "InvalidBlockList":
                    raise
                # The blocks are gone: discarded by another writer's commit of the name (which
                # drops every uncommitted block), or by our own earlier attempt whose answer
                # was lost, or by an abort. An object there settles it (the caller reads its
                # token); nothing there means the upload is gone.
                if if_absent and self.head(key) is not None:
                    raise objectstore.PreconditionFailed(key, "a blob exists") from None
                raise objectstore.NoSuchUpload(key, "its blocks are gone") from None
        with self._lock:
            self._uploads.pop(upload_id, None)
        return _etag(resp["etag"])

    def abort_upload(self, key: str, upload_id: str) -> None:
        """Best effort (see the class doc): delete the uncommitted blob if it holds only this
        upload's blocks; an upload that is gone is not an error."""
        self.abort_uploads(key, [upload_id])

    def abort_uploads(self, key: str, upload_ids: Collection[str]) -> None:
        """Best effort: delete the uncommitted blob if it holds only these uploads' blocks."""
        ids = set(upload_ids)
        with self._lock:
            for upload_id in ids:
                self._uploads.pop(upload_id, None)
        if not all(map(_UPLOAD_RE.match, ids)) or self.head(key) is not None:
            return  # committed there: its blocks go with the next commit, or in 7 days
        blob = self._blob(key)
        with (
            contextlib.suppress(objectstore.ObjectNotFound),
            self._errors(key, "abort an upload to"),
        ):
            _, uncommitted = blob.get_block_list("uncommitted")
            owners = {(parse_block_id(b.id) or ("", 0))[0] for b in uncommitted}
            if owners and owners <= ids:
                blob.delete_blob()

    def list_uploads(self, prefix: str) -> Iterator[objectstore.UploadInfo]:
        with self._errors(prefix, "list the uploads under"):
            listed = self.container.list_blobs(
                name_starts_with=prefix or None, include=["uncommittedblobs"]
            )
            for item in listed:
                if item.size:  # committed content: its own pending blocks are not listed
                    continue
                initiated = item.creation_time or item.last_modified
                yield from self._uploads_of(item.name, initiated)

    def _uploads_of(
        self, key: str, initiated: _dt.datetime | None
    ) -> Iterator[objectstore.UploadInfo]:
        try:
            with self._errors(key, "list the uploads under"):
                _, uncommitted = self._blob(key).get_block_list("uncommitted")
        except objectstore.ObjectNotFound:
            return  # committed or dropped since the listing
        seen: dict[str, None] = {}
        for block in uncommitted:
            parsed = parse_block_id(block.id)
            if parsed is not None:
                seen.setdefault(parsed[0], None)
        for upload_id in seen:
            yield objectstore.UploadInfo(key, upload_id, initiated)

    # -- reads ----------------------------------------------------------------------------

    def head(self, key: str) -> objectstore.ObjectInfo | None:
        answered: list[_dt.datetime | None] = []
        try:
            with self._errors(key, "look up"):
                props = self._blob(key).get_blob_properties(
                    raw_response_hook=lambda r: answered.append(_answered_at(r))
                )
        except (objectstore.ObjectNotFound, FileNotFoundError):
            return None  # no blob, or no container
        return objectstore.ObjectInfo(
            key,
            int(props.size or 0),
            _etag(props.etag),
            props.last_modified,
            _from_azure(props.metadata),
            answered[-1] if answered else None,
        )

    def server_time(self) -> _dt.datetime | None:
        """The ``Date`` of a Get Container Properties answer."""
        answered: list[_dt.datetime | None] = []
        with self._errors("", "look up"):
            self.container.get_container_properties(
                raw_response_hook=lambda r: answered.append(_answered_at(r))
            )
        return answered[-1] if answered else None

    def _download(self, key: str, if_match: str | None) -> Any:
        version: dict[str, Any] = {}
        if if_match is not None:
            version = {"etag": if_match, "match_condition": MatchConditions.IfNotModified}
        with self._errors(key, "read"):
            return self._blob(key).download_blob(**version)

    def get(self, key: str, *, if_match: str | None = None) -> bytes:
        downloader = self._download(key, if_match)
        with self._errors(key, "read"):
            return bytes(downloader.readall())

    def open_read(self, key: str, *, if_match: str | None = None) -> IO[bytes]:
        """One download, streamed: one version of the blob, however it is read."""
        downloader = self._download(key, if_match)
        return io.BufferedReader(_Download(downloader, self.url(key)), 1 << 20)

    @staticmethod
    def _listed(item: Any, with_metadata: bool = False) -> objectstore.ObjectInfo:
        return objectstore.ObjectInfo(
            str(item.name),
            int(item.size or 0),
            _etag(item.etag),
            item.last_modified,
            _from_azure(item.metadata) if with_metadata else None,
        )

    def list(self, prefix: str) -> Iterator[objectstore.ObjectInfo]:
        """Every blob under ``prefix``, with its metadata (the same listing request)."""
        with self._errors(prefix, "list"):
            for item in self.container.list_blobs(
                name_starts_with=prefix or None, include=["metadata"]
            ):
                yield self._listed(item, with_metadata=True)

    def list_dir(
        self, prefix: str
    ) -> tuple[builtins.list[objectstore.ObjectInfo], builtins.list[str]]:
        objects: list[objectstore.ObjectInfo] = []
        prefixes: list[str] = []
        with self._errors(prefix, "list"):
            for item in self.container.walk_blobs(name_starts_with=prefix or None, delimiter="/"):
                if isinstance(item, BlobPrefix):
                    prefixes.append(str(item.name))
                else:
                    objects.append(self._listed(item))
        return objects, prefixes

    # -- deletes and copies ---------------------------------------------------------------

    def delete(self, key: str, *, if_match: str | None = None) -> None:
        version: dict[str, Any] = {}
        if if_match is not None:
            version = {"etag": if_match, "match_condition": MatchConditions.IfNotModified}
        try:
            with self._errors(key, "delete"):
                self._blob(key).delete_blob(**version)
        except objectstore.ObjectNotFound:
            return
        except objectstore.PreconditionFailed:
            if self.head(key) is None:
                return  # nothing there (Azure answers 412 to If-Match on a missing blob)
            raise

    def copy(self, src: str, dst: str, *, metadata: Mapping[str, str], if_absent: bool) -> str:
        """Copy Blob inside the account, waited for; `ObjectNotFound` for a missing
        ``src``."""
        source = self._blob(src)
        target = self._blob(dst)
        if self.head(src) is None:
            raise objectstore.ObjectNotFound(src, "not found")
        with self._errors(dst, "copy to"):
            try:
                resp = target.start_copy_from_url(
                    source.url, metadata=_to_azure(metadata), **self._conditions(if_absent, None)
                )
            except HttpResponseError as exc:
                if error_code(exc)[0] in ("CannotVerifyCopySource", "BlobNotFound"):
                    raise objectstore.ObjectNotFound(src, "not found") from None
                raise
        if resp.get("copy_status") == "success":
            return _etag(resp["etag"])
        return self._wait_for_copy(dst, str(resp.get("copy_id")))

    def _wait_for_copy(self, key: str, copy_id: str) -> str:
        """Poll a pending copy until it is done; a failed copy is removed again."""
        delay = 0.05
        while True:
            with self._errors(key, "copy to"):
                props = self._blob(key).get_blob_properties()
            status = props.copy.status
            if status == "success" or props.copy.id != copy_id:
                return _etag(props.etag)
            if status != "pending":
                with contextlib.suppress(TargetError, objectstore.StoreCondition):
                    self.delete(key, if_match=props.etag)
                raise CommitError(
                    f"cannot copy to {self.url(key)}: Azure's copy ended {status!r}; nothing "
                    "was published, retry",
                    self.url(key),
                )
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


def _account_url(container: ContainerClient) -> str:
    """The container's account URL without any query (a SAS token is never shown)."""
    return str(container.primary_endpoint).split("?", 1)[0].rsplit("/", 1)[0]


# -- the filesystem -------------------------------------------------------------------------


class AzureFS(ObjectStoreFS):
    """Atomic outputs on Azure Blob Storage (``az://container/path``, ``abfs://...``).

    Strict targets first make sure that the account honours ``If-None-Match``: once per
    container and process, a probe blob is written with it, then a second Put Blob and a
    Put Block List onto it with the condition must both be refused; an account or
    emulator that accepts either gets `UnsupportedGuarantee` (G6). Everything else is
    `ObjectStoreFS` over `AzureStore`. See the module doc for URLs and storage options.
    """

    protocol: ClassVar[str] = "az"
    aliases: ClassVar[tuple[str, ...]] = ("abfs",)
    declared: ClassVar[Capabilities] = Capabilities(
        noreplace_rename=False,
        noreplace_rename_dir=False,
        exclusive_create=True,
        atomic_replace=True,
        deferred_publish=True,
        server_side_copy=True,
    )

    def __init__(self, **storage_options: Any) -> None:
        check_storage_options(storage_options, valid_options(), backend="Azure")
        options = dict(storage_options)
        own = {k: options.pop(k) for k in OWN_OPTIONS if k in options}
        part_size = int(own.get("part_size", DEFAULT_PART_SIZE))
        retries = int(own.get("retry_total", DEFAULT_RETRIES))
        if retries < 0:
            raise InvalidTarget(f"retry_total={retries} must be 0 or more")
        self._options = with_environment(options)
        self.service = make_client(self._options, part_size=part_size, retries=retries)
        self._part_size = part_size
        self._fsspec: Any = None
        self._home: str | None = None
        self._new_store("probe")  # checks part_size now, not at first use
        super().__init__(
            self._new_store,
            stale_claim_after=float(own.get("stale_claim_after", objectstore.STALE_CLAIM_AFTER)),
            publish_concurrency=check_publish_concurrency(own.get("publish_concurrency")),
        )

    def _new_store(self, container: str) -> AzureStore:
        return AzureStore(self.service.get_container_client(container), part_size=self._part_size)

    @classmethod
    def from_url(cls, url: str, **storage_options: Any) -> tuple[AzureFS, str]:
        plain, account = split_account(url.split("?", 1)[0])
        container, key = cls._split_url(plain)
        check_names(url, container, plain.partition("://")[2].partition("/")[2].rstrip("/"))
        check_storage_options(storage_options, valid_options(), backend="Azure", url=url)
        if account and not storage_options.get("connection_string"):
            storage_options.setdefault("account_name", account)
        fs = cls(**storage_options)
        path = f"{container}/{key}".rstrip("/")
        fs._home = path
        return fs, path

    def __repr__(self) -> str:
        return f"AzureFS(account={str(self.service.url).split('?', 1)[0]!r})"

    @property
    def capabilities(self) -> Capabilities:
        """The declared capabilities, weakened when the probe found that the account of this
        filesystem's URL ignores ``If-None-Match`` (the probe runs on first access, once per
        container and process)."""
        ok = True
        if self._home is not None:
            store, key = self.locate(self._home)
            ok = self._conditional_ok(store, key or "x")
        if ok:
            return self.declared
        return self.unconditional

    @property
    def fsspec(self) -> Any:
        """adlfs over the same account, without a listings cache."""
        if self._fsspec is None:
            import adlfs  # type: ignore[import-untyped]

            options = {"use_listings_cache": False, "skip_instance_cache": True, **self._options}
            with map_errors("az://", "connect to"):
                self._fsspec = adlfs.AzureBlobFileSystem(**options)
        return self._fsspec

    # -- the probe ----------------------------------------------------------------------

    def _conditional_ok(self, store: objectstore.ObjectStore, key: str) -> bool:
        """Whether ``store`` honours ``If-None-Match`` (probe once per container and
        process)."""
        assert isinstance(store, AzureStore)
        cache = (store.endpoint, store.bucket)
        with _probe_lock:
            known = _probed.get(cache)
        if known is not None:
            return known
        parent = key.rpartition("/")[0]
        probe_key = (parent + "/" if parent else "") + _PROBE_PREFIX + new_token()
        ok = conditional.probe_conditional_writes(store, probe_key)
        with _probe_lock:
            _probed[cache] = ok
        return ok

    def _require_conditional(
        self, store: objectstore.ObjectStore, key: str, guarantee: Guarantee
    ) -> None:
        """Probe the container (once per process); an account that ignores
        ``If-None-Match`` gets `UnsupportedGuarantee` (strict) or a `RuntimeWarning`
        (best-effort)."""
        url = store.url(key)
        try:
            ok = self._conditional_ok(store, key)
        except TargetError as exc:  # name the output, not the probe blob
            reason = exc.message.split(": ", 1)[-1]
            raise type(exc)(f"cannot commit {url}: {reason}", url) from exc
        if ok:
            return
        why = (
            f"the account at {getattr(store, 'endpoint', '?')} accepted a second write (a Put "
            f"Blob or a Put Block List) of a probe blob in container {store.bucket!r} despite "
            "If-None-Match: *, so a concurrent writer could be overwritten silently"
        )
        if guarantee == "strict":
            raise UnsupportedGuarantee(
                f"cannot commit {url} safely: {why}. Use an account or emulator that honours "
                "conditional writes, or pass guarantee='best-effort' to accept the risk",
                url,
            )
        warnings.warn(
            f"committing {url} without exclusive create: {why}", RuntimeWarning, stacklevel=4
        )
