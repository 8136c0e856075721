"""The ``targets`` command: look after outputs from a shell or a script.

::

    targets status URL           committed? when, by which writer, how many files and bytes
    targets verify URL           every file of the manifest there, with its size and sha256
    targets cleanup URL --older-than 6h [--dry-run]
    targets recover URL [--how auto|forward|back] [--force]
                                 finish or undo an interrupted commit
    targets capabilities URL     what the store behind URL can guarantee

Every command takes ``--json`` (one JSON document on stdout) and storage options as
``-o KEY=VALUE`` (repeatable; a value that parses as JSON is taken as JSON) on top of a JSON
object in the environment variable ``TARGETS_STORAGE_OPTIONS``. Storage options are never
printed.

Long work (``status``, ``verify``, ``recover``, ``cleanup``) draws a progress bar on stderr
for a person at a terminal only: never under ``--json``, nor when stdout or stderr is not a
terminal, unless ``TARGETS_PROGRESS=1`` (``0`` hides it).

Exit codes: 0 yes / done; 1 no (not committed, verification failed, a store weaker than its
backend declares); 2 a usage error; 3 the operation failed (the error is printed).

Each command is a thin layer over a public function: `targets.status`, `targets.verify`,
`targets.cleanup`, and on the `AtomicFS` that `targets.fs.resolve(url)` gives, `recover` and
`capabilities`.
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

import click

import targets
from targets import fs as _fs
from targets._inspect import OutputStatus, VerifyReport
from targets.errors import TargetError
from targets.fs.base import RecoverHow

__all__ = ["EXIT_ERROR", "EXIT_NO", "EXIT_OK", "EXIT_USAGE", "cli", "main"]

EXIT_OK = 0
"""The output is committed / verified; the command did what it was asked."""
EXIT_NO = 1
"""The answer is no: not committed, verification failed, capabilities weaker than declared."""
EXIT_USAGE = 2
"""Bad arguments or options (click's own code for usage errors)."""
EXIT_ERROR = 3
"""The operation failed: the store could not be reached, the library refused, ..."""

OPTIONS_ENV = "TARGETS_STORAGE_OPTIONS"
PROGRESS_ENV = "TARGETS_PROGRESS"
"""``1`` shows progress bars even when not at a terminal, ``0`` hides them; unset: shown only
when both stdout and stderr are terminals. Never under ``--json``."""

# -- parameters --------------------------------------------------------------------------------

_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([wdhms])")


def parse_duration(text: str) -> timedelta:
    """``"6h"``, ``"90m"``, ``"1h30m"``, ``"2d"``, ``"0s"``; a bare number is seconds."""
    text = text.strip().lower()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return timedelta(seconds=float(text))
    parts = _DURATION.findall(text)
    if not text or "".join(n + u for n, u in parts) != text.replace(" ", ""):
        raise ValueError(f"{text!r} is not a duration such as 6h, 30m, 1h30m, 2d or 0s")
    return timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in parts))


if TYPE_CHECKING:
    _ParamType = click.ParamType[timedelta]  # generic from click 8.2 on
else:
    _ParamType = click.ParamType


class Duration(_ParamType):
    name = "duration"

    def convert(self, value: Any, param: Any, ctx: Any) -> timedelta:
        if isinstance(value, timedelta):
            return value
        try:
            return parse_duration(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def _format_duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit in ("w", "d", "h", "m"):
        if seconds and seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"


def storage_options(pairs: tuple[str, ...]) -> dict[str, Any]:
    """The storage options from ``TARGETS_STORAGE_OPTIONS`` (a JSON object), updated by
    ``KEY=VALUE`` pairs (a VALUE that is valid JSON is decoded: numbers, true, objects)."""
    options: dict[str, Any] = {}
    env = os.environ.get(OPTIONS_ENV, "").strip()
    if env:
        try:
            loaded = json.loads(env)
        except ValueError:
            loaded = None
        if not isinstance(loaded, dict):
            raise click.UsageError(f"{OPTIONS_ENV} must hold a JSON object of storage options")
        options.update(loaded)
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="'-o'")
        try:
            options[key.strip()] = json.loads(value)
        except ValueError:
            options[key.strip()] = value
    return options


def _common(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options every command takes: ``--json`` and ``-o KEY=VALUE``; turns library
    errors into a message (or a JSON error document) and exit code 3."""

    @click.option(
        "-o",
        "--option",
        "options",
        multiple=True,
        metavar="KEY=VALUE",
        help=f"A storage option (repeatable), on top of the JSON object in ${OPTIONS_ENV}.",
    )
    @click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
    @click.argument("url")
    @functools.wraps(command)
    def wrapper(url: str, as_json: bool, options: tuple[str, ...], **kwargs: Any) -> None:
        opts = storage_options(options)
        try:
            code = command(url=url, as_json=as_json, options=opts, **kwargs)
        except TargetError as exc:
            if as_json:
                _emit({"url": url, "error": {"type": type(exc).__name__, "message": str(exc)}})
            else:
                click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_ERROR)
        sys.exit(code or EXIT_OK)

    return wrapper


def _emit(doc: dict[str, Any]) -> None:
    click.echo(json.dumps(doc, indent=2, sort_keys=True, default=str))


# -- progress ----------------------------------------------------------------------------------


def _show_progress(as_json: bool) -> bool:
    """Whether to draw progress bars (on stderr): never under ``--json``; otherwise as
    $TARGETS_PROGRESS says, or, when it is unset, only for a person at a terminal (stdout and
    stderr both terminals, so that a pipe or a log file gets no bar)."""
    if as_json:
        return False
    forced = os.environ.get(PROGRESS_ENV, "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    return sys.stdout.isatty() and sys.stderr.isatty()


class _Progress:
    """A progress bar on stderr for callbacks ``(done, total, name)``, created on the first
    call (the total is known only then); does nothing when not ``enabled``."""

    def __init__(self, label: str, *, enabled: bool) -> None:
        self._label = label
        self._enabled = enabled
        self._bar: Any = None
        self._done = 0

    def __call__(self, done: int, total: int, name: str) -> None:
        if not self._enabled:
            return
        if self._bar is None:
            self._bar = click.progressbar(
                length=total,
                label=self._label,
                file=sys.stderr,
                show_pos=True,
                item_show_func=lambda item: item,
            )
            self._bar.__enter__()
        self._bar.update(done - self._done, name)
        self._done = done

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)


# -- presentation helpers ----------------------------------------------------------------------


def _bytes(n: int | None) -> str:
    if n is None:
        return "unknown size"
    text = f"{n:,} byte{'s' if n != 1 else ''}"
    size = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        if size < 1024:
            break
        size /= 1024
        if size < 1024 or unit == "TiB":
            return f"{text}, {size:.1f} {unit}"
    return text


def _ago(iso: str | None) -> str:
    if not iso:
        return ""
    try:
        when = _dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return ""
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.timezone.utc)
    seconds = (_dt.datetime.now(_dt.timezone.utc) - when).total_seconds()
    if seconds < 0:
        return ""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f" ({seconds / size:.0f} {unit} ago)"
    return f" ({seconds:.0f} s ago)"


def _row(label: str, value: str) -> None:
    click.echo(f"  {label:<12}{value}")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(targets.__version__, prog_name="targets")
def cli() -> None:
    """Inspect, verify, clean up and recover outputs written with `targets`.

    URL is a path or a URL (s3://, gs://, hdfs://, ...); end it with / for a directory
    output. Exit codes: 0 yes/done, 1 no (not committed, verification failed, weaker
    capabilities), 2 usage error, 3 the operation failed.
    """


# -- status ------------------------------------------------------------------------------------


@cli.command()
@click.option(
    "--older-than",
    type=Duration(),
    default="6h",
    show_default=True,
    help="Age that makes a temporary stale.",
)
@_common
def status(url: str, as_json: bool, options: dict[str, Any], older_than: timedelta) -> int:
    """Is the output at URL committed? When, by which writer, how many files and bytes
    (from its manifest); claimed but incomplete; stale temporaries nearby.

    Exit 0 when committed, 1 otherwise.
    """
    with _Progress("reading status", enabled=_show_progress(as_json)) as progress:
        st = targets.status(url, older_than=older_than, progress=progress, **options)
    if as_json:
        _emit(st.to_dict())
    else:
        _print_status(st, url, older_than)
    return EXIT_OK if st.committed else EXIT_NO


def _print_status(st: OutputStatus, url: str, older_than: timedelta) -> None:
    click.echo(st.url)
    _row("kind", f"{st.kind} output")
    if st.state == "incomplete" and st.claim is not None:
        _print_claim(st.claim, url)
    else:
        _row("state", st.state)
    if st.committed:
        _print_committed(st)
    if st.files is not None and st.state != "incomplete":
        _row("files", f"{st.files} ({_bytes(st.bytes)})")
    _print_temporaries(st, older_than)
    for note in st.notes:
        _row("note", note)


def _print_claim(claim: dict[str, Any], url: str) -> None:
    """An incomplete output: who claimed it, when, and the command that settles it."""
    _row("state", "incomplete: claimed, no _SUCCESS")
    if claim.get("claimed_at"):
        _row("claimed", f"{claim['claimed_at']}{_ago(claim['claimed_at'])}")
    if claim.get("writer"):
        _row("writer", str(claim["writer"]))
    if claim.get("files") is not None:
        _row("files", f"{claim['files']} listed in the claim")
    _row("next", f"targets recover {url}")


def _print_committed(st: OutputStatus) -> None:
    for label, value in (
        ("committed", st.committed_at and f"{st.committed_at}{_ago(st.committed_at)}"),
        ("writer", st.writer),
        ("protocol", st.protocol),
    ):
        if value:
            _row(label, value)


def _print_temporaries(st: OutputStatus, older_than: timedelta) -> None:
    if not st.stale and not st.recent:
        _row("temporaries", "none")
        return
    parts = []
    if st.stale:
        age = _format_duration(older_than)
        parts.append(f"{len(st.stale)} stale (older than {age}; `targets cleanup` removes)")
    if st.recent:
        parts.append(f"{len(st.recent)} recent (a writer may be at work)")
    _row("temporaries", "; ".join(parts))
    for item in st.stale:
        click.echo(f"    stale   {item}")
    for item in st.recent:
        click.echo(f"    recent  {item}")


# -- verify ------------------------------------------------------------------------------------


@cli.command()
@click.option(
    "--sizes-only", is_flag=True, help="Compare sizes, not checksums (reads no file data)."
)
@_common
def verify(url: str, as_json: bool, options: dict[str, Any], sizes_only: bool) -> int:
    """Check the committed output at URL against its manifest: every listed file present,
    with the recorded size and sha256, and no other file.

    Exit 0 when it matches, 1 otherwise (not committed included).
    """
    with _Progress("verifying", enabled=_show_progress(as_json)) as progress:
        report = targets.verify(url, checksums=not sizes_only, progress=progress, **options)
    if as_json:
        _emit(report.to_dict())
    else:
        _print_verify(report)
    return EXIT_OK if report.ok else EXIT_NO


def _print_verify(report: VerifyReport) -> None:
    if report.ok:
        checked = f"{report.checked} file{'s' if report.checked != 1 else ''}"
        sums = f", {report.checksummed} checksum(s) match" if report.checksummed else ""
        click.echo(f"OK      {report.url}: {checked}, {_bytes(report.bytes)}{sums}")
    else:
        n = len(report.problems)
        click.echo(f"FAILED  {report.url}: {n} problem{'s' if n != 1 else ''}")
        for problem in report.problems:
            click.echo(f"  - {problem}")
    for note in report.notes:
        click.echo(f"  note: {note}")


# -- cleanup -----------------------------------------------------------------------------------


@cli.command()
@click.option(
    "--older-than",
    type=Duration(),
    default="6h",
    show_default=True,
    help="Remove temporaries and uploads older than this (e.g. 6h, 30m, 2d, 0s).",
)
@click.option("--dry-run", is_flag=True, help="Only say what would be removed.")
@_common
def cleanup(
    url: str, as_json: bool, options: dict[str, Any], older_than: timedelta, dry_run: bool
) -> int:
    """Remove this library's stale temporaries beside and under URL, and abort its stale
    multipart uploads. Committed outputs, and anything the library did not write, are never
    touched; younger temporaries (a writer at work) are kept.
    """
    plan = targets.cleanup(url, older_than=older_than, dry_run=True, **options)
    if dry_run:
        removed, aborted, kept = plan.removed, plan.aborted_uploads, plan.kept_recent
    else:
        show = _show_progress(as_json)
        removed, aborted, kept = _clean(url, options, older_than, plan, show=show)
    if as_json:
        _emit(
            {
                "url": url,
                "dry_run": dry_run,
                "older_than_seconds": older_than.total_seconds(),
                "removed": removed,
                "aborted_uploads": aborted,
                "kept_recent": kept,
            }
        )
        return EXIT_OK
    verb, abort = ("would remove", "would abort") if dry_run else ("removed", "aborted")
    for item in removed:
        click.echo(f"{verb:<13} {item}")
    for item in aborted:
        click.echo(f"{abort:<13} {item}")
    for item in kept:
        click.echo(f"{'kept':<13} {item}")
    age = _format_duration(older_than)
    summary = (
        f"{'dry run: ' if dry_run else ''}{verb} {len(removed)} stale "
        f"temporar{'y' if len(removed) == 1 else 'ies'}, {abort} {len(aborted)} multipart "
        f"upload{'s' if len(aborted) != 1 else ''}; kept {len(kept)} younger than {age}"
    )
    click.echo(summary)
    return EXIT_OK


def _clean(
    url: str, options: dict[str, Any], older_than: timedelta, plan: Any, *, show: bool
) -> tuple[list[str], list[str], list[str]]:
    """Run the cleanup that ``plan`` (a dry run) announced, one output at a time so that a
    progress bar can follow it, then once over the whole of ``url`` for what is left
    (multipart uploads, anything that went stale meanwhile). Every step is
    `targets.cleanup`, on ``url`` or on an output beside or under it."""
    if not plan.removed and not plan.aborted_uploads:
        return [], [], list(plan.kept_recent)
    steps = [*_owners(url, plan.removed, options), url]
    removed: list[str] = []
    aborted: list[str] = []
    kept: list[str] = []
    bar = click.progressbar(
        steps,
        label="removing stale temporaries",
        file=sys.stderr,
        show_pos=True,
        item_show_func=lambda s: None if s is None else str(s),
        hidden=not show,
    )
    with bar as items:
        for step in items:
            report = targets.cleanup(step, older_than=older_than, **options)
            removed += [r for r in report.removed if r not in removed]
            aborted += [a for a in report.aborted_uploads if a not in aborted]
            kept = list(report.kept_recent)  # the last step covers all of url
    return removed, aborted, kept


def _owners(url: str, temporaries: list[str], options: dict[str, Any]) -> Iterator[str]:
    """The outputs that the stale ``temporaries`` belong to (``.<name>.targets-tmp-<token>``
    stages the output ``<name>`` beside it), each once, on the same backend as ``url``."""
    served_by = _fs.backend(_fs.split_protocol(str(url))[0], str(url))
    seen: set[str] = set()
    for item in temporaries:
        head, sep, last = item.rstrip("/").rpartition("/")
        parsed = _fs.parse_temp_name(last)
        if parsed is None or not sep:
            continue
        owner = f"{head}/{parsed[0]}"
        if _fs.backend(_fs.split_protocol(owner)[0], owner) != served_by:
            continue
        if owner not in seen:
            seen.add(owner)
            yield owner


# -- recover -----------------------------------------------------------------------------------


@cli.command()
@click.option(
    "--how",
    type=click.Choice(["auto", "forward", "back"]),
    default="auto",
    show_default=True,
    help="Object stores: roll the claimed commit forward, back, or forward when possible.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Act on a claim whose lease is live. Only when its writer is known to be dead: a "
    "live writer is then fenced (it publishes nothing more and its commit fails).",
)
@_common
def recover(url: str, as_json: bool, options: dict[str, Any], how: str, force: bool) -> int:
    """Finish or undo an interrupted commit at URL.

    On object stores a claim without _SUCCESS is rolled forward (its files published,
    _SUCCESS written) or back (only the claim's own objects deleted). A claim whose writer
    is alive (it renewed its lease within stale_claim_after seconds, by the store's clock)
    is refused, saying whose it is, and nothing changes unless --force (exit 3). Where a
    backend recovers one way only, another --how is refused (exit 3).
    """
    afs, path = _fs.resolve(url, **options)
    with _Progress("recovering", enabled=_show_progress(as_json)) as progress:
        progress(0, 3, "reading the state")
        before = targets.status(url, **options).state
        progress(1, 3, "recovering")
        # a backend that recovers one way only raises InvalidTarget for another --how: exit 3
        result = afs.recover(path, how=cast(RecoverHow, how), force=force)
        progress(2, 3, "reading the new state")
        after = targets.status(url, **options)
        progress(3, 3, "done")
    if as_json:
        _emit({"url": after.url, "result": result, "state": after.state})
    else:
        click.echo(result)
        if after.state != before:  # a healthy output: the result already says so
            click.echo(f"{after.url} is now {after.state}")
    return EXIT_OK


# -- capabilities ------------------------------------------------------------------------------

_PROBES = {
    "s3": (
        "conditional writes (If-None-Match: *)",
        "honoured: a conditional put and a conditional multipart completion onto an existing "
        "probe object were both refused",
        "NOT honoured: strict targets refuse this store (guarantee='best-effort' opts out)",
    ),
}


@cli.command()
@_common
def capabilities(url: str, as_json: bool, options: dict[str, Any]) -> int:
    """What the store behind URL can guarantee: the backend's declared capabilities and
    this store's (on S3, after probing that conditional writes are honoured).

    Exit 0 when the store keeps everything its backend declares, 1 when it is weaker.
    """
    afs = _fs.filesystem(url, **options)
    declared = type(afs).declared
    actual = afs.capabilities  # S3: probes the bucket once per process
    names = list(_fs.Capabilities.describe())
    weaker = [n for n in names if getattr(declared, n) and not getattr(actual, n)]
    probe = None
    if afs.protocol in _PROBES:
        probe = {"conditional_writes": actual.exclusive_create}
    if as_json:
        _emit(
            {
                "url": url,
                "backend": afs.protocol,
                "declared": {n: getattr(declared, n) for n in names},
                "capabilities": {n: getattr(actual, n) for n in names},
                "weaker_than_declared": weaker,
                "probe": probe,
            }
        )
        return EXIT_NO if weaker else EXIT_OK
    click.echo(f"{url}: {afs.protocol}:// ({type(afs).__name__})")
    width = max(map(len, names)) + 2
    click.echo(f"  {'capability':<{width}}{'declared':<10}this store")
    for n in names:
        d, a = getattr(declared, n), getattr(actual, n)
        click.echo(f"  {n:<{width}}{'yes' if d else 'no':<10}{'yes' if a else 'no'}")
    if probe is not None:
        what, good, bad = _PROBES[afs.protocol]
        click.echo(f"{what}: {good if probe['conditional_writes'] else bad}")
    if weaker:
        click.echo(f"weaker than declared: {', '.join(weaker)}")
    click.echo("")
    for n, doc in _fs.Capabilities.describe().items():
        click.echo(f"  {n}: {doc}")
    return EXIT_NO if weaker else EXIT_OK


def main(argv: list[str] | None = None) -> None:
    """The console script ``targets`` (and ``python -m targets``)."""
    cli.main(args=argv, prog_name="targets")
