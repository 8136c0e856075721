"""`ObjectStoreFS`: the one `AtomicFS` over the `ObjectStore` interface.

Every object-store backend is this class plus what is really its own: S3 (`targets.fs.s3`)
adds its client, storage options and the probe that the store honours ``If-None-Match``;
GCS (`targets.fs.gcs`) adds its client and ``objects.move``. Paths are ``bucket/key``; a URL
of the filesystem's scheme is accepted wherever a path is. The commits are the protocols of
`targets.fs.objectstore`; this module only turns paths into ``(store, key)`` and
protocol outcomes into `AtomicFS` semantics.

Mounting a store
----------------
A simulated store (for property tests) implements `ObjectStore`, one instance per bucket,
and is mounted with `ObjectStoreFS.mount`::

    from targets.fs.objectstore import ObjectStoreFS

    afs = ObjectStoreFS.mount(MemoryStore("b1"), MemoryStore("b2"))
    w = afs.open_output("b1/out.csv")        # or "mem://b1/out.csv", for scheme "mem"
    w.write(b"a,b\\n")
    w.commit()
    afs.exists("b1/out.csv")                  # True

Buckets that were not mounted do not exist (reads say so, `exists` is False). Stores made
on demand (one per bucket, on first use) are mounted with the constructor instead:
``ObjectStoreFS(lambda bucket: MemoryStore(bucket), scheme="mem")``. ``fsspec=`` (optional)
is an fsspec filesystem over the same store; `DirectoryTarget.files`, ``writer().filesystem``
and tools that write by path need it. The target layer resolves URLs through
`targets.fs.filesystem`, which knows only registered backends; a mounted filesystem is used
directly through the `AtomicFS` methods.

What a mounted store must keep is the `ObjectStore` contract (`targets.fs.objectstore.store`):
``if_absent`` and ``if_match`` decided atomically, uploads invisible until completed,
metadata keys lower-cased, `ObjectStore.list` lazy, a missing bucket a `FileNotFoundError`,
`StoreCondition` outcomes for the protocols and `targets.errors` for the rest. A store that
breaks a guarantee on purpose (ignores ``if_absent``) shows what the protocols do without
it; a subclass that overrides `ObjectStoreFS._require_conditional` shows what G6 does about
it. The real stores are reachable the same way for differential tests: ``S3FS.store(bucket)``
and ``GCSFS.store(bucket)`` are the `ObjectStore` adapters that the backends commit through.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import timedelta
from typing import IO, Any, ClassVar

from targets.errors import (
    CommitError,
    InvalidTarget,
    IsADirectory,
    OutputChanged,
    TargetError,
    TargetExistsError,
    TargetNotFound,
)
from targets.fs.base import (
    AtomicFS,
    Capabilities,
    CleanupReport,
    DirectoryWriter,
    FileWriter,
    Guarantee,
    IfExists,
    RecoverHow,
    Staging,
    check_guarantee,
    check_if_exists,
)
from targets.fs.job import JobWriter, TaskId, TaskWriter, check_task_id
from targets.fs.objectstore import cleanup as _cleanup
from targets.fs.objectstore import recover as _recover
from targets.fs.objectstore.claim import STALE_CLAIM_AFTER
from targets.fs.objectstore.conditional import copy_object, create_object
from targets.fs.objectstore.delete import delete_output, delete_prefix
from targets.fs.objectstore.job import ObjectJobWriter, ObjectTaskWriter, check_spec
from targets.fs.objectstore.parallel import PUBLISH_THREADS
from targets.fs.objectstore.publish import copy_directory
from targets.fs.objectstore.store import (
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    PreconditionFailed,
    under,
)
from targets.fs.objectstore.writers import ObjectDirectoryWriter, ObjectFileWriter, ObjectStaging

__all__ = [
    "ObjectStoreFS",
    "check_publish_concurrency",
    "check_storage_options",
    "keyword_names",
]


class ObjectStoreFS(AtomicFS):
    """Atomic outputs on an object store, over `ObjectStore` (see the module doc).

    * A file output is one conditional write straight to its final key (one put up to one
      part, else a multipart upload completed conditionally): nothing is visible before
      it, and it never replaces anything unless ``if_exists="overwrite"``.
    * A directory output is claim -> publish -> ``_SUCCESS``; it exists once ``_SUCCESS``
      does. The claim is the one decision point between concurrent writers.
    * There is no rename: `rename_dont_move` and `copy` are server-side copies published
      only if nothing is at the destination (a conditional copy for an object, the claim
      protocol for a prefix), so they never nest and never replace; a rename then deletes
      the source, so both exist for a moment.
    * Every object written carries its writer token, so that lost responses resolve as
      the writer's own success (G7) and recovery deletes only what the claim's writer
      wrote (G8); deletes after a token check name the version checked.

    ``stores(bucket)`` returns the store of a bucket; it is called once per bucket and the
    store is kept (stores may hold per-process state, such as open upload sessions).
    """

    protocol: ClassVar[str] = "objectstore"
    """The backend's name; a mounted filesystem's URLs use ``scheme``."""
    aliases: ClassVar[tuple[str, ...]] = ()
    """Other URL schemes accepted for this backend (``s3a``, ``gcs``)."""
    declared: ClassVar[Capabilities] = Capabilities(
        noreplace_rename=False,
        noreplace_rename_dir=False,
        exclusive_create=True,
        atomic_replace=True,
        deferred_publish=True,
        server_side_copy=True,
    )
    unconditional: ClassVar[Capabilities] = Capabilities(
        noreplace_rename=False,
        noreplace_rename_dir=False,
        exclusive_create=False,
        atomic_replace=True,
        deferred_publish=True,
        server_side_copy=True,
    )
    """What a store keeps when the conditional-write probe found that it ignores
    ``If-None-Match``: nothing exclusive."""

    def __init__(
        self,
        stores: Callable[[str], ObjectStore],
        *,
        scheme: str | None = None,
        fsspec: Any = None,
        stale_claim_after: float = STALE_CLAIM_AFTER,
        publish_concurrency: int | None = None,
    ) -> None:
        """``stores``: the store of a bucket. ``scheme``: the URL scheme of paths and
        staging URLs (default: the class's ``protocol``). ``fsspec``: an fsspec filesystem
        over the same store, for listing and for tools that write by path.
        ``stale_claim_after``: seconds after which a claim without ``_SUCCESS`` is reported
        as `IncompleteCommit` and may be recovered without ``force``.
        ``publish_concurrency``: how many requests a commit, a recovery or a cleanup sends
        in parallel (a positive int; default `PUBLISH_THREADS`, 16); 1 sends one at a
        time."""
        self._make_store = stores
        self.scheme = scheme or type(self).protocol
        self._mounted_fsspec = fsspec
        self.stale_claim_after = float(stale_claim_after)
        self.publish_concurrency = check_publish_concurrency(publish_concurrency)
        self._stores: dict[str, ObjectStore] = {}
        self._stores_lock = threading.Lock()

    @classmethod
    def mount(
        cls,
        *stores: ObjectStore,
        fsspec: Any = None,
        stale_claim_after: float = STALE_CLAIM_AFTER,
        publish_concurrency: int | None = None,
    ) -> ObjectStoreFS:
        """An `AtomicFS` over ``stores`` (one per bucket, all of one scheme); the path
        ``bucket/key`` (or ``<scheme>://bucket/key``) addresses ``key`` in the store of
        ``bucket``. Any other bucket does not exist. The options are the constructor's."""
        if not stores:
            raise InvalidTarget("mount needs at least one store")
        schemes = {s.scheme for s in stores}
        if len(schemes) != 1:
            raise InvalidTarget(f"mounted stores must share one scheme, not {sorted(schemes)}")
        scheme = schemes.pop()
        by_bucket = {s.bucket: s for s in stores}
        if len(by_bucket) != len(stores):
            raise InvalidTarget("mounted stores must address different buckets")

        def lookup(bucket: str) -> ObjectStore:
            try:
                return by_bucket[bucket]
            except KeyError:
                url = f"{scheme}://{bucket}"
                raise TargetNotFound(
                    f"{url}: the bucket {bucket!r} does not exist (mounted: "
                    f"{', '.join(sorted(by_bucket))}); mount a store for it or fix the path",
                    url,
                ) from None

        return cls(
            lookup,
            scheme=scheme,
            fsspec=fsspec,
            stale_claim_after=stale_claim_after,
            publish_concurrency=publish_concurrency,
        )

    @classmethod
    def from_url(cls, url: str, **storage_options: Any) -> tuple[AtomicFS, str]:
        """Backends build their stores from a URL; a bare `ObjectStoreFS` is mounted with
        `mount` instead."""
        raise InvalidTarget(
            f"cannot open {url}: ObjectStoreFS serves no URL by itself; mount stores with "
            "ObjectStoreFS.mount(...)",
            url,
        )

    @classmethod
    def _split_url(cls, url: str) -> tuple[str, str]:
        """``(bucket, key)`` of a URL of this backend; `InvalidTarget` for another scheme
        or a URL without a bucket."""
        schemes = (cls.protocol, *cls.aliases)
        scheme, sep, rest = url.partition("://")
        if not sep or scheme.lower() not in schemes:
            shown = " or ".join(f"{s}://" for s in schemes)
            raise InvalidTarget(f"{url!r} is not a {shown} URL", url)
        bucket, _, key = rest.rstrip("/").partition("/")
        if not bucket:  # "s3://", "gs:///key"
            raise InvalidTarget(
                f"{url!r} names no bucket; write {cls.protocol}://<bucket>/<key> (or "
                f"{cls.protocol}://<bucket>/<prefix>/ for a directory)",
                url,
            )
        return bucket, key.strip("/")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.scheme}://)"

    # -- stores and paths ----------------------------------------------------------------

    def store(self, bucket: str) -> ObjectStore:
        """The `ObjectStore` of ``bucket`` (one per bucket, shared by every writer)."""
        store = self._stores.get(bucket)
        if store is None:
            made = self._make_store(bucket)
            with self._stores_lock:
                store = self._stores.setdefault(bucket, made)
        return store

    def locate(self, path: str, what: str | None = None) -> tuple[ObjectStore, str]:
        """The store of ``path``'s bucket and the key ``path`` names there (``""`` for the
        bucket itself). ``what`` names an operation that needs a key: for a bare bucket it
        raises `InvalidTarget`."""
        text = str(path)
        scheme, sep, rest = text.partition("://")
        if sep:
            if scheme.lower() not in (self.scheme, *type(self).aliases):
                raise InvalidTarget(f"{text!r} is not a {self.scheme}:// path", text)
            text = rest
        bucket, _, key = text.strip("/").partition("/")
        if not bucket:
            raise InvalidTarget(
                f"{path!r} names no bucket; write {self.scheme}://<bucket>/<key>", str(path)
            )
        if what is not None and not key:
            url = f"{self.scheme}://{bucket}"
            raise InvalidTarget(
                f"{url} is a bucket, not an object: {what} needs a key inside it ({url}/<key>)",
                url,
            )
        return self.store(bucket), key

    def url(self, path: str) -> str:
        store, key = self.locate(path)
        return store.url(key)

    def join(self, path: str, *names: str) -> str:
        return "/".join([path.rstrip("/"), *(n.strip("/") for n in names if n)])

    # -- what backends add ---------------------------------------------------------------

    @property
    def capabilities(self) -> Capabilities:
        return self.declared

    @property
    def fsspec(self) -> Any:
        if self._mounted_fsspec is None:
            raise TargetError(
                f"no fsspec filesystem is mounted for {self.scheme}://; pass fsspec= to "
                "ObjectStoreFS to list files or to let tools write by path"
            )
        return self._mounted_fsspec

    def _require_conditional(self, store: ObjectStore, key: str, guarantee: Guarantee) -> None:
        """Called before every commit that relies on ``if_absent``: raise
        `UnsupportedGuarantee` (strict) or warn (best-effort) if the store cannot be trusted
        to honour it. Here the store is trusted; S3 probes it."""

    def _rename_object(
        self,
        store: ObjectStore,
        src: str,
        dst: str,
        source: ObjectInfo,
    ) -> bool:
        """Rename one object with a native no-replace rename, if the store has one; return
        False to fall back on a conditional copy and a delete. Raise `TargetExistsError` if
        ``dst`` is taken. Here there is none; GCS has ``objects.move``."""
        return False

    # -- reading and housekeeping ----------------------------------------------------------

    def exists(self, path: str) -> bool:
        """Whether an object is at ``path`` or objects live under ``path/``; for a bucket,
        whether it exists. A missing bucket holds nothing: False."""
        try:
            store, key = self.locate(path)
            if key and store.head(key) is not None:
                return True
            inside = next(store.list(under(key)), None)
        except FileNotFoundError:
            return False
        return inside is not None or not key

    def isfile(self, path: str) -> bool:
        try:
            store, key = self.locate(path)
            return bool(key) and store.head(key) is not None
        except FileNotFoundError:
            return False

    def isdir(self, path: str) -> bool:
        try:
            store, key = self.locate(path)
            return next(store.list(under(key)), None) is not None
        except FileNotFoundError:
            return False

    def listdir(self, path: str) -> list[str]:
        store, key = self.locate(path)
        d = under(key)
        objects, prefixes = store.list_dir(d)
        found = {f"{store.bucket}/{o.key}" for o in objects if o.key != d}
        found.update(f"{store.bucket}/{p.rstrip('/')}" for p in prefixes)
        return sorted(k for k in found if not k.endswith("/"))

    def mkdir(self, path: str, parents: bool = True, raise_if_exists: bool = False) -> None:
        """Directories are implicit on object stores: this checks that the bucket exists
        (one listing) and, with ``raise_if_exists``, that nothing is at ``path``."""
        store, key = self.locate(path)
        something = next(store.list(under(key)), None) is not None
        if raise_if_exists and (something or (key and store.head(key) is not None)):
            url = store.url(key)
            raise TargetExistsError(
                f"cannot create the directory {url}: something is there already", url
            )

    def remove(self, path: str, recursive: bool = True, skip_trash: bool = True) -> None:
        """Delete the object at ``path`` and, with ``recursive``, every object under
        ``path/``: ``_SUCCESS`` first (the output stops existing before it thins), the
        claim last. `TargetNotFound` if nothing is there; `IsADirectory` for a prefix without
        ``recursive``."""
        store, key = self.locate(path, "remove")
        url = store.url(key)
        removed = False
        if store.head(key) is not None:
            store.delete(key)
            removed = True
            if not recursive:
                return
        inside = [o.key for o in store.list(key + "/")]
        if inside:
            if not recursive:
                raise IsADirectory(
                    f"cannot remove {url}: it is a directory; pass recursive=True", url
                )
            delete_output(store, key, inside, concurrency=self.publish_concurrency)
        elif not removed:
            raise TargetNotFound(f"cannot remove {url}: it does not exist", url)

    versioned_reads = True

    def open_version(self, path: str, entry: Mapping[str, Any]) -> IO[bytes]:
        """One read of the object at ``path``, conditional on the etag (generation) that
        its manifest ``entry`` names: `OutputChanged` if another version, or none, is
        there. An entry without an etag (an old manifest) is read as it is."""
        etag = entry.get("etag")
        if not isinstance(etag, str) or not etag:
            return self.open_input(path)
        store, key = self.locate(path, "reading")
        try:
            return store.open_read(key, if_match=etag)
        except (ObjectNotFound, PreconditionFailed):
            url = store.url(key)
            raise OutputChanged(
                f"cannot read {url}: the output was replaced or removed since its manifest "
                "was read, and this file is no longer the version it lists; read the output "
                "again",
                url,
            ) from None

    def open_input(self, path: str) -> IO[bytes]:
        """One read of one version of the object at ``path``."""
        store, key = self.locate(path, "reading")
        try:
            return store.open_read(key)
        except ObjectNotFound:
            pass
        url = store.url(key)
        if next(store.list(key + "/"), None) is not None:
            raise IsADirectory(f"cannot read {url}: it is a directory; read its files", url)
        raise TargetNotFound(f"cannot read {url}: it does not exist", url)

    # -- atomic primitives -----------------------------------------------------------------

    def put_if_absent(self, path: str, data: bytes) -> None:
        """One conditional put; `TargetExistsError` if anything is at ``path`` (a retry
        after a lost response that finds this call's own object reports success, G7)."""
        store, key = self.locate(path, "a write")
        self._require_conditional(store, key, "strict")
        create_object(store, key, bytes(data))

    def copy(self, src: str, dst: str) -> None:
        """Server-side copy of an object, or of every object under a prefix (claim ->
        copies -> ``_SUCCESS``), to ``dst``; never replaces, never nests."""
        self._transfer(src, dst, "strict", move=False)

    def rename_dont_move(self, src: str, dst: str, *, guarantee: Guarantee = "strict") -> None:
        """Rename ``src`` to ``dst`` if nothing is there: the store's native no-replace
        rename where it has one, else a server-side copy published only if nothing is at
        ``dst`` (a conditional copy for an object, the claim protocol for a prefix), then
        the source is deleted. Never nests, never replaces; without a native rename not one
        atomic step (both exist for a moment), as ``capabilities.noreplace_rename`` says."""
        check_guarantee(guarantee)
        self._transfer(src, dst, guarantee, move=True)

    def _transfer(self, src: str, dst: str, guarantee: Guarantee, *, move: bool) -> None:
        verb = "rename" if move else "copy"
        store, skey = self.locate(src, f"a {verb}")
        dstore, dkey = self.locate(dst, f"a {verb}")
        surl, durl = store.url(skey), dstore.url(dkey)
        if store is not dstore:
            raise InvalidTarget(
                f"cannot {verb} {surl} to {durl}: server-side copies stay inside one bucket",
                durl,
            )
        self._require_conditional(store, dkey, guarantee)
        source = store.head(skey)
        if source is None and next(store.list(skey + "/"), None) is None:
            raise TargetNotFound(f"cannot {verb} {surl}: it does not exist", surl)
        if next(store.list(dkey + "/"), None) is not None or (
            source is None and store.head(dkey) is not None
        ):
            raise TargetExistsError(
                f"cannot {verb} {surl} to {durl}: {durl} exists (a {verb} never puts anything "
                "into or over an existing output); remove it first or pick another name",
                durl,
            )
        if source is None:
            copy_directory(
                store,
                skey,
                dkey,
                stale_after=self.stale_claim_after,
                concurrency=self.publish_concurrency,
            )
            if move:
                delete_prefix(store, skey, concurrency=self.publish_concurrency)
            return
        if move and self._rename_object(store, skey, dkey, source):
            return
        copy_object(store, skey, dkey)
        if not move:
            return
        try:
            store.delete(skey, if_match=source.etag or None)
        except PreconditionFailed:
            raise CommitError(
                f"copied {surl} to {durl}, but {surl} was replaced during the rename, so it "
                f"was left in place; {durl} holds a copy of one of its versions. Check both "
                "and remove the one you do not want",
                surl,
            ) from None

    # -- commits ---------------------------------------------------------------------------

    def open_output(
        self,
        path: str,
        *,
        if_exists: IfExists = "error",
        guarantee: Guarantee = "strict",
        durable: bool = True,
    ) -> FileWriter:
        """One file output, published at ``commit()`` by one conditional request (with
        ``if_exists="overwrite"`` one plain request: an atomic replace). ``durable`` is
        moot: object stores acknowledge a write once it is durable."""
        check_if_exists(if_exists)
        check_guarantee(guarantee)
        store, key = self.locate(path, "a file output")
        check = None
        if if_exists == "error":

            def check() -> None:
                self._require_conditional(store, key, guarantee)

        return ObjectFileWriter(
            store,
            key,
            path,
            if_exists=if_exists,
            before_commit=check,
            stale_after=self.stale_claim_after,
        )

    def directory_writer(
        self,
        path: str,
        *,
        if_exists: IfExists = "error",
        guarantee: Guarantee = "strict",
        durable: bool = True,
        checksums: bool = True,
    ) -> DirectoryWriter:
        """A directory output, committed by claim -> publish -> ``_SUCCESS``. Its ``path``
        is a staging URL that its ``filesystem`` (this filesystem's ``fsspec``) takes as it
        is."""
        check_if_exists(if_exists)
        check_guarantee(guarantee)
        store, key = self.locate(path)
        return ObjectDirectoryWriter(
            store,
            key,
            lambda: self.fsspec,
            if_exists=if_exists,
            before_commit=lambda: self._require_conditional(store, key, guarantee),
            stale_after=self.stale_claim_after,
            concurrency=self.publish_concurrency,
            checksums=checksums,
        )

    def staging(
        self,
        path: str,
        *,
        directory: bool,
        if_exists: IfExists = "error",
        guarantee: Guarantee = "strict",
        durable: bool = True,
    ) -> Staging:
        """A hidden sibling key (prefix) for ``temporary_path()``, as a URL; the commit copies
        it server-side (O(bytes)) and deletes it."""
        check_if_exists(if_exists)
        check_guarantee(guarantee)
        store, key = self.locate(path, "a temporary path")
        return ObjectStaging(
            store,
            key,
            directory=directory,
            if_exists=if_exists,
            before_commit=lambda: self._require_conditional(store, key, guarantee),
            stale_after=self.stale_claim_after,
            concurrency=self.publish_concurrency,
        )

    def job(
        self,
        path: str,
        *,
        if_exists: IfExists = "error",
        guarantee: Guarantee = "strict",
        durable: bool = True,
        checksums: bool = True,
    ) -> JobWriter:
        """Claim the directory output ``path`` for a job of many workers now (see
        `targets.fs.objectstore.job`): `TargetExistsError` if it is committed (unless
        ``if_exists="overwrite"``) or claimed by a live writer or job, `IncompleteCommit` if
        a dead one's claim is there."""
        check_if_exists(if_exists)
        check_guarantee(guarantee)
        store, key = self.locate(path, "a job")
        self._require_conditional(store, key, guarantee)
        return ObjectJobWriter(
            store,
            key,
            path,
            lambda: self.fsspec,
            if_exists=if_exists,
            stale_after=self.stale_claim_after,
            concurrency=self.publish_concurrency,
            checksums=checksums,
        )

    def job_task(
        self, path: str, spec: Mapping[str, Any], task_id: TaskId, attempt: int = 0
    ) -> TaskWriter:
        """Open attempt ``attempt`` of task ``task_id`` of the job whose spec is ``spec``,
        in any process; the attempt needs no lease."""
        store, key = self.locate(path, "a job task")
        token, if_exists = check_spec(spec, store.url(key))
        return ObjectTaskWriter(
            store,
            key,
            token,
            check_task_id(task_id),
            attempt,
            lambda: self.fsspec,
            exclusive=if_exists != "overwrite",
            checksums=bool(spec.get("checksums", True)),
        )

    def cleanup(self, path: str, *, older_than: timedelta, dry_run: bool = False) -> CleanupReport:
        """Abort multipart uploads and remove staging prefixes (``.<name>.targets-tmp-*``)
        older than ``older_than``, at, under or beside ``path``. Nothing else is touched:
        claims are left to `recover`, committed data is never removed, and nothing of a
        writer whose lease is live (renewed within ``stale_claim_after`` seconds, by the
        store's clock) is removed. See `targets.fs.objectstore.cleanup.cleanup`."""
        store, key = self.locate(path)
        return _cleanup.cleanup(
            store,
            key,
            older_than=older_than,
            stale_after=self.stale_claim_after,
            dry_run=dry_run,
            concurrency=self.publish_concurrency,
        )

    def recover(self, path: str, *, how: RecoverHow = "auto", force: bool = False) -> str:
        """Roll the interrupted commit at ``path`` forward (``how="forward"``), back
        (``"back"``), or forward when every file of the claim is still available
        (``"auto"``); say what was done. A claim whose lease is live (renewed within
        ``stale_claim_after`` seconds, by the store's clock) is refused, naming its holder,
        unless ``force=True``; a writer that is in fact alive is then fenced: it publishes
        nothing more and raises `CommitError`. See `targets.fs.objectstore.recover.recover`."""
        store, key = self.locate(path)
        return _recover.recover(
            store,
            key,
            how,
            stale_after=self.stale_claim_after,
            force=force,
            concurrency=self.publish_concurrency,
        )


def check_publish_concurrency(value: object) -> int | None:
    """``value`` as the ``publish_concurrency`` storage option: None (the default) or a
    positive int; `InvalidTarget` naming the option otherwise."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value > 0):
        return value
    raise InvalidTarget(
        f"publish_concurrency={value!r} is not a positive whole number: it is how many "
        f"requests a commit sends in parallel (default {PUBLISH_THREADS}; 1 sends one at a "
        "time)"
    )


def keyword_names(*callables: Callable[..., Any]) -> frozenset[str]:
    """The parameters ``callables`` take by keyword (not ``self``, ``*args`` or
    ``**kwargs``): the options a client library's constructors accept, read from their
    signatures rather than copied into a list that goes stale."""
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return frozenset(
        name
        for call in callables
        for name, param in inspect.signature(call).parameters.items()
        if param.kind in kinds and name != "self"
    )


def check_storage_options(
    given: Iterable[str], valid: Collection[str], *, backend: str, url: str | None = None
) -> None:
    """`InvalidTarget` naming the options in ``given`` that are not in ``valid``, and listing
    the valid ones: a misspelt option (``endpoit_url``) must not be swallowed by a client's
    ``**kwargs`` while the output goes to the default endpoint."""
    unknown = sorted(set(given) - set(valid))
    if unknown:
        where = f" for {url}" if url else ""
        raise InvalidTarget(
            f"unknown storage options {unknown}{where}; {backend} takes {', '.join(sorted(valid))}",
            url,
        )
