"""The ``targets`` command, end to end on local disk, S3 (moto) and GCS (fake-gcs-server).

Commands run in-process through click's runner (storage options in TARGETS_STORAGE_OPTIONS,
as a script would pass them), and a few as real processes: the console script and
``python -m targets``.
"""

from __future__ import annotations

import ast
import json
import os
import pathlib
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner

import targets
from targets.cli import EXIT_ERROR, EXIT_NO, EXIT_OK, EXIT_USAGE, cli, parse_duration
from tests.fixtures import StoreRoot

SECRET = "testing-secret-do-not-print"  # the moto fixture's secret key
BACKENDS = ["local", "s3", "gcs"]
TABLE = {"part-0000.csv": b"id,amount\n1,42\n", "region=north/part-0001.csv": b"id\n7\n" * 50}


@pytest.fixture(params=BACKENDS)
def root(request: pytest.FixtureRequest) -> StoreRoot:
    return request.getfixturevalue(f"{request.param}_root")


@pytest.fixture(params=["s3", "gcs"])
def object_root(request: pytest.FixtureRequest) -> StoreRoot:
    return request.getfixturevalue(f"{request.param}_root")


def run(root: StoreRoot, *args: str, code: int = EXIT_OK) -> Any:
    """Run ``targets ARGS`` with ``root``'s storage options; check the exit code and that no
    secret reached the output."""
    result = CliRunner().invoke(
        cli,
        list(args),
        env={"TARGETS_STORAGE_OPTIONS": json.dumps(root.options)},
        catch_exceptions=False,
    )
    assert result.exit_code == code, result.output
    assert SECRET not in result.output
    return result


def run_json(root: StoreRoot, *args: str, code: int = EXIT_OK) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(run(root, *args, "--json", code=code).stdout)
    return doc


def commit_outputs(root: StoreRoot) -> tuple[targets.FileTarget, targets.DirectoryTarget]:
    report = targets.FileTarget(root.child("report.csv"), **root.options)
    report.write_text("region,total\nnorth,42\n")
    table = targets.DirectoryTarget(root.child("table/"), **root.options)
    with table.writer() as w:
        for name, data in TABLE.items():
            with w.open(name, "wb") as f:
                f.write(data)
    return report, table


def put(root: StoreRoot, rel: str, data: bytes) -> None:
    """Write an object or file by hand, around the library (a tool, a dead writer's leftover,
    someone tampering)."""
    afs, path = targets.fs.resolve(root.child(rel), **root.options)
    if afs.protocol == "file":
        os.makedirs(os.path.dirname(path), exist_ok=True)
    afs.fsspec.pipe_file(path, data)


def snapshot(root: StoreRoot, *outputs: str) -> dict[str, bytes]:
    """Every byte of the named outputs, hidden files (_SUCCESS, the claim) included."""
    afs, base = targets.fs.resolve(root.url, **root.options)
    found: dict[str, bytes] = {}
    for rel in outputs:
        path = afs.join(base, rel)
        names = [path] if afs.isfile(path) else afs.fsspec.find(path)
        for full in names:
            with afs.open_input(full) as f:
                found[full] = f.read()
    return found


def interrupted_directory_commit(root: StoreRoot, rel: str, files: dict[str, bytes]) -> None:
    """A writer that dies after publishing its files and before ``_SUCCESS``: its claim and
    its files stay, as after a SIGKILL at that moment (the store's ``put`` of ``_SUCCESS``
    and every ``delete`` of its clean-up never happen)."""
    afs, path = targets.fs.resolve(root.child(rel), **root.options)
    store = afs.store(path.split("/", 1)[0])  # type: ignore[attr-defined]

    class Killed(BaseException):
        pass

    real_put, real_delete = store.put, store.delete

    def put_unless_success(key: str, data: Any, **kwargs: Any) -> Any:
        if key.endswith("/_SUCCESS"):
            raise Killed
        return real_put(key, data, **kwargs)

    def no_delete(key: str, **kwargs: Any) -> None:
        # S3's first strict write to a bucket probes its conditional writes and deletes the
        # probe object: let that through, or a test run alone dies before its claim
        if ".targets-probe-" in key:
            return real_delete(key, **kwargs)
        raise Killed

    store.put = put_unless_success
    store.delete = no_delete
    try:
        w = afs.directory_writer(path)
        for name, data in files.items():
            with w.open(name, "wb") as f:
                f.write(data)
        with pytest.raises(Killed):
            w.commit()
    finally:
        del store.put, store.delete


# -- status ------------------------------------------------------------------------------------


def test_status_of_committed_outputs_reports_manifest_writer_files_and_bytes(root):
    report, table = commit_outputs(root)
    manifest = table.manifest()

    doc = run_json(root, "status", root.child("table/"))
    assert doc["state"] == "committed" and doc["kind"] == "directory"
    assert doc["writer"] == manifest["writer"]
    assert doc["committed_at"] == manifest["committed_at"]
    assert doc["files"] == 2 and doc["bytes"] == sum(map(len, TABLE.values()))
    assert doc["stale"] == [] and doc["claim"] is None

    doc = run_json(root, "status", root.child("report.csv"))
    assert doc["state"] == "committed" and doc["kind"] == "file"
    assert doc["files"] == 1 and doc["bytes"] == len(report.read_bytes())
    assert doc["committed_at"].endswith("Z")

    text = run(root, "status", root.child("table")).stdout  # no '/': found to be a directory
    assert "committed" in text and manifest["writer"] in text and "2 (" in text


def test_status_of_a_missing_output_exits_1(root):
    doc = run_json(root, "status", root.child("nothing/"), code=EXIT_NO)
    assert doc["state"] == "absent" and doc["kind"] == "directory"
    assert "absent" in run(root, "status", root.child("nothing.csv"), code=EXIT_NO).stdout


def test_status_of_a_directory_without_success_is_uncommitted(root):
    put(root, "spark-out/part-00000", b"a,b\n")
    doc = run_json(root, "status", root.child("spark-out/"), code=EXIT_NO)
    assert doc["state"] == "uncommitted" and doc["files"] == 1


def test_status_shows_stale_and_recent_temporaries_nearby(local_root):
    root = local_root
    stale = pathlib.Path(root.url) / f".table.targets-tmp-{uuid.uuid4().hex}"
    recent = pathlib.Path(root.url) / f".table.targets-tmp-{uuid.uuid4().hex}"
    for d in (stale, recent):
        d.mkdir()
        (d / "part-0").write_text("half")
    old = time.time() - 7 * 3600
    os.utime(stale / "part-0", (old, old))
    os.utime(stale, (old, old))

    doc = run_json(root, "status", root.child("table/"), code=EXIT_NO)
    assert doc["state"] == "absent"
    assert doc["stale"] == [str(stale)] and doc["recent"] == [str(recent)]
    doc = run_json(root, "status", root.child("table/"), "--older-than", "8h", code=EXIT_NO)
    assert doc["stale"] == [] and len(doc["recent"]) == 2
    text = run(root, "status", root.child("table/"), code=EXIT_NO).stdout
    assert "1 stale" in text and "1 recent" in text and str(stale) in text


# -- an interrupted commit on an object store: status, recover ----------------------------


def test_claimed_but_incomplete_output_then_recover_forward(object_root):
    root = object_root
    interrupted_directory_commit(root, "table", {"a.csv": b"a\n", "b.csv": b"bb\n"})
    url = root.child("table/")

    doc = run_json(root, "status", url, code=EXIT_NO)
    assert doc["state"] == "incomplete"
    assert doc["claim"]["files"] == 2 and len(doc["claim"]["writer"]) == 32
    assert doc["claim"]["age_seconds"] >= 0
    assert f"targets recover {url}" in run(root, "status", url, code=EXIT_NO).stdout
    assert run_json(root, "verify", url, code=EXIT_NO)["problems"][0]["problem"] == (
        "not committed"
    )

    doc = run_json(root, "recover", url, "-o", "stale_claim_after=0")
    assert "forward" in doc["result"] and doc["state"] == "committed"
    assert run_json(root, "verify", url)["checksummed"] == 2
    status = run_json(root, "status", url)
    assert status["writer"] == doc_writer(root, url) and status["files"] == 2
    again = run(root, "recover", url).stdout  # now healthy: nothing to do, and nothing else
    assert "nothing to recover" in again and "is now" not in again
    assert again.count("\n") == 1


def doc_writer(root: StoreRoot, url: str) -> str:
    return str(targets.DirectoryTarget(url, **root.options).manifest()["writer"])


def test_recover_back_deletes_only_the_claims_own_objects(object_root):
    root = object_root
    interrupted_directory_commit(root, "table", {"a.csv": b"a\n"})
    url = root.child("table/")
    text = run(root, "recover", url, "--how", "back", "-o", "stale_claim_after=0").stdout
    assert "rolled" in text and "back" in text and "is now absent" in text
    assert run_json(root, "status", url, code=EXIT_NO)["state"] == "absent"


def test_recover_refuses_a_fresh_claim_with_exit_3(s3_root):
    interrupted_directory_commit(s3_root, "table", {"a.csv": b"a\n"})
    doc = run_json(s3_root, "recover", s3_root.child("table/"), code=EXIT_ERROR)
    message = doc["error"]["message"]
    assert doc["error"]["type"] == "CommitError" and "is live" in message
    assert f"pid {os.getpid()}" in message and "Nothing was changed" in message
    assert run_json(s3_root, "status", s3_root.child("table/"), code=EXIT_NO)["state"] == (
        "incomplete"
    )


def test_recover_with_force_takes_over_a_fresh_claim(s3_root):
    interrupted_directory_commit(s3_root, "table", {"a.csv": b"a\n", "b.csv": b"bb\n"})
    url = s3_root.child("table/")
    doc = run_json(s3_root, "recover", url, "--force")
    assert "forward" in doc["result"] and doc["state"] == "committed"
    assert run_json(s3_root, "verify", url)["checksummed"] == 2


def test_recover_on_local_says_there_is_nothing_to_do(local_root):
    """A healthy output: one line saying there was nothing to do (it used to add "... is now
    committed", as if recover had committed it)."""
    commit_outputs(local_root)
    text = run(local_root, "recover", local_root.child("table/")).stdout
    assert text.startswith("nothing to recover") and text.count("\n") == 1
    assert "is now" not in text
    # the backend recovers one way only: another --how is refused by it, exit 3
    doc = run_json(
        local_root, "recover", local_root.child("table/"), "--how", "back", code=EXIT_ERROR
    )
    assert doc["error"]["type"] == "InvalidTarget"
    assert "one way only" in doc["error"]["message"]
    text = run(
        local_root, "recover", local_root.child("table/"), "--how", "back", code=EXIT_ERROR
    ).stderr
    assert text.startswith("error: ") and "one way only" in text
    assert run_json(local_root, "status", local_root.child("table/"))["state"] == "committed"


# -- verify ------------------------------------------------------------------------------------


def test_verify_passes_on_a_committed_output_and_finds_every_kind_of_damage(root):
    commit_outputs(root)
    url = root.child("table/")
    doc = run_json(root, "verify", url)
    assert doc["ok"] and doc["checked"] == 2 and doc["checksummed"] == 2
    assert doc["bytes"] == sum(map(len, TABLE.values()))
    assert run(root, "verify", url).stdout.startswith("OK ")
    assert run_json(root, "verify", root.child("report.csv"))["kind"] == "file"

    put(root, "table/part-0000.csv", b"id,amount\n1,43\n")  # same size, other bytes
    put(root, "table/extra.csv", b"x\n")
    afs, path = targets.fs.resolve(root.child("table/region=north/part-0001.csv"), **root.options)
    afs.fsspec.rm(path)

    doc = run_json(root, "verify", url, code=EXIT_NO)
    found = {(p["name"], p["problem"]) for p in doc["problems"]}
    assert found == {
        ("part-0000.csv", "sha256"),
        ("region=north/part-0001.csv", "missing"),
        ("extra.csv", "unexpected"),
    }
    sizes_only = run_json(root, "verify", url, "--sizes-only", code=EXIT_NO)
    assert {p["problem"] for p in sizes_only["problems"]} == {"missing", "unexpected"}
    text = run(root, "verify", url, code=EXIT_NO).stdout
    assert "FAILED" in text and "3 problems" in text and "sha256" in text


def test_verify_reports_a_wrong_size_and_a_corrupt_manifest(local_root):
    _, table = commit_outputs(local_root)
    part = pathlib.Path(table.path) / "part-0000.csv"
    part.write_bytes(part.read_bytes() + b"2,1\n")
    doc = run_json(local_root, "verify", table.url, code=EXIT_NO)
    assert doc["problems"] == [
        {"name": "part-0000.csv", "problem": "size", "expected": 15, "actual": 19}
    ]
    (pathlib.Path(table.path) / "_SUCCESS").write_text("{not json")
    doc = run_json(local_root, "verify", table.url, code=EXIT_NO)
    assert doc["problems"][0]["problem"] == "corrupt manifest"


def test_verify_of_an_absent_output_exits_1(root):
    doc = run_json(root, "verify", root.child("nothing/"), code=EXIT_NO)
    assert doc["ok"] is False and doc["problems"][0]["problem"] == "not committed"


# -- cleanup -----------------------------------------------------------------------------------


def make_leftovers(root: StoreRoot) -> list[str]:
    """Temporaries of dead writers beside and under committed outputs, as a killed writer
    leaves them; returns their URLs (or paths)."""
    tokens = [uuid.uuid4().hex for _ in range(3)]
    leftovers = [
        f".table2.targets-tmp-{tokens[0]}/part-0.csv",  # a dead directory writer's staging
        f".report2.csv.targets-tmp-{tokens[1]}",  # a dead file writer's staging
        f"daily/.day1.targets-tmp-{tokens[2]}/part-0.csv",  # one level down
    ]
    for rel in leftovers:
        put(root, rel, b"half-written")
    return [rel.split("/part-0.csv")[0] for rel in leftovers]


def test_cleanup_removes_stale_temporaries_and_leaves_committed_outputs_untouched(root):
    commit_outputs(root)
    interrupted = root.url.startswith(("s3://", "gs://"))
    if interrupted:  # a claimed, unfinished output is recover's business, not cleanup's
        interrupted_directory_commit(root, "claimed", {"a.csv": b"a\n"})
    outputs = ["report.csv", "table", *(["claimed"] if interrupted else [])]
    before = snapshot(root, *outputs)
    leftovers = make_leftovers(root)
    if root.url.startswith("/"):  # local: make them old; stores keep their own clocks
        for rel in leftovers:
            full = pathlib.Path(root.url, rel)
            for p in [*full.rglob("*"), full] if full.is_dir() else [full]:
                os.utime(p, (time.time() - 7 * 3600,) * 2)
        age, lease = "6h", []
    else:
        # The abandoned writers are judged with a lease period of 0: as if their processes
        # had died long ago (a live writer's work is kept for a period, tests/leases).
        age, lease = "0s", ["-o", "stale_claim_after=0"]
        # The store's clock (its Date header) counts whole seconds and an age is never
        # rounded up: let one pass, so that the leftovers are older than "now".
        time.sleep(1.1)

    plan = run_json(root, "cleanup", root.url, "--older-than", age, "--dry-run", *lease)
    assert plan["dry_run"] is True
    assert sorted(os.path.basename(p.rstrip("/")) for p in plan["removed"]) == sorted(
        os.path.basename(rel) for rel in leftovers
    )
    assert snapshot(root, *outputs) == before

    result = run(root, "cleanup", root.url, "--older-than", age, *lease)
    # no progress bar: the runner's streams are not terminals (test_progress_* below)
    assert "removing stale temporaries" not in result.stderr
    assert "removed 3 stale temporaries" in result.stdout
    for rel in leftovers:
        assert os.path.basename(rel) in result.stdout

    assert snapshot(root, *outputs) == before  # every committed byte untouched
    assert run_json(root, "verify", root.child("table/"))["checksummed"] == 2
    after = run_json(root, "status", root.url + "/", code=EXIT_NO)
    assert after["stale"] == []
    again = run_json(root, "cleanup", root.url, "--older-than", "0s")
    assert again["removed"] == [] and again["aborted_uploads"] == []
    assert snapshot(root, *outputs) == before


def test_cleanup_keeps_young_temporaries(local_root):
    leftovers = make_leftovers(local_root)
    doc = run_json(local_root, "cleanup", local_root.url)  # default: older than 6h
    assert doc["removed"] == [] and len(doc["kept_recent"]) == len(leftovers)
    assert all(pathlib.Path(local_root.url, rel).exists() for rel in leftovers)
    text = run(local_root, "cleanup", local_root.url).stdout
    assert "removed 0 stale temporaries" in text and "kept 3 younger than 6h" in text


def test_cleanup_aborts_stale_multipart_uploads(s3_root, s3_server):
    commit_outputs(s3_root)
    before = snapshot(s3_root, "report.csv", "table")
    client, bucket = s3_server["client"], s3_server["bucket"]
    key = s3_root.child("big.bin").split(f"s3://{bucket}/", 1)[1]
    upload = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]

    plan = run_json(s3_root, "cleanup", s3_root.url, "--dry-run")
    assert [upload in label for label in plan["aborted_uploads"]] == [True]
    doc = run_json(s3_root, "cleanup", s3_root.url)
    assert [upload in label for label in doc["aborted_uploads"]] == [True]
    pending = client.list_multipart_uploads(Bucket=bucket, Prefix=key).get("Uploads", [])
    assert pending == []
    assert snapshot(s3_root, "report.csv", "table") == before


# -- capabilities ------------------------------------------------------------------------------


def test_capabilities_match_the_backends_declaration(root):
    doc = run_json(root, "capabilities", root.url)
    declared = targets.fs.filesystem(root.url, **root.options).declared
    assert doc["declared"] == {n: getattr(declared, n) for n in doc["declared"]}
    assert doc["capabilities"] == doc["declared"] and doc["weaker_than_declared"] == []
    assert doc["probe"] == ({"conditional_writes": True} if doc["backend"] == "s3" else None)
    text = run(root, "capabilities", root.url).stdout
    assert "exclusive_create" in text and "declared" in text and "this store" in text
    if doc["backend"] == "s3":
        assert "If-None-Match: *): honoured" in text


def test_capabilities_of_an_s3_store_that_ignores_conditional_writes_exit_1(s3_root, monkeypatch):
    import targets.fs.objectstore.conditional as ostore

    monkeypatch.setattr("targets.fs.s3._probed", {})
    monkeypatch.setattr(ostore, "probe_conditional_writes", lambda *args: False)
    doc = run_json(s3_root, "capabilities", s3_root.url, code=EXIT_NO)
    assert doc["probe"] == {"conditional_writes": False}
    assert "exclusive_create" in doc["weaker_than_declared"]
    text = run(s3_root, "capabilities", s3_root.url, code=EXIT_NO).stdout
    assert "NOT honoured" in text and "weaker than declared: exclusive_create" in text


# -- errors, options, processes ----------------------------------------------------------------


def test_a_store_error_exits_3_without_showing_credentials(s3_root):
    missing = f"s3://no-such-bucket-{uuid.uuid4().hex[:8]}/out/"
    doc = run_json(s3_root, "status", missing, code=EXIT_ERROR)
    assert doc["error"]["type"] and missing.split("/")[2] in doc["error"]["message"]
    text = run(s3_root, "cleanup", missing, "--dry-run", code=EXIT_ERROR).stderr
    assert text.startswith("error: ") and missing.split("/")[2] in text


def test_usage_errors_exit_2(local_root):
    for args in (
        ["cleanup", local_root.url, "--older-than", "6 hours"],
        ["status", local_root.url, "-o", "no-equals-sign"],
        ["recover", local_root.url, "--how", "sideways"],
        ["status"],
    ):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == EXIT_USAGE, (args, result.output)
    result = CliRunner().invoke(
        cli, ["status", local_root.url], env={"TARGETS_STORAGE_OPTIONS": "[1, 2]"}
    )
    assert result.exit_code == EXIT_USAGE and "JSON object" in result.output


def test_durations():
    assert parse_duration("6h") == timedelta(hours=6)
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration("2d") == timedelta(days=2)
    assert parse_duration("1w") == timedelta(weeks=1)
    assert parse_duration("0s") == timedelta(0)
    assert parse_duration("90") == timedelta(seconds=90)
    for bad in ("", "6x", "h", "6h 5", "-1h"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_console_script_and_python_m_run_against_s3(s3_root):
    commit_outputs(s3_root)
    env = {**os.environ, "TARGETS_STORAGE_OPTIONS": json.dumps(s3_root.options)}
    script = pathlib.Path(sys.executable).parent / "targets"
    version = subprocess.run([str(script), "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and targets.__version__ in version.stdout
    for command in ([str(script)], [sys.executable, "-m", "targets"]):
        done = subprocess.run(
            [*command, "status", "--json", s3_root.child("table/")],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert done.returncode == EXIT_OK, done.stderr
        assert json.loads(done.stdout)["state"] == "committed"
        assert SECRET not in done.stdout + done.stderr
    missing = subprocess.run(
        [sys.executable, "-m", "targets", "status", s3_root.child("nope.csv")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert missing.returncode == EXIT_NO and "absent" in missing.stdout


def test_the_functions_behind_the_commands_work_on_hdfs(hdfs_root, hdfs_model):
    """HDFS (on the namespace model, whose client object the command line cannot carry):
    the functions that the commands print."""
    _, table = commit_outputs(hdfs_root)
    status = targets.status(table.url, **hdfs_root.options)
    assert status.committed and status.files == 2 and status.protocol
    assert status.writer == table.manifest()["writer"]
    assert targets.verify(table.url, **hdfs_root.options).checksummed == 2
    hdfs_model.write_file(f"/store/.daily.targets-tmp-{uuid.uuid4().hex}/part-0", b"half")
    # A dead writer's leftover, judged with a lease period that has passed already (a
    # live writer's staging is kept for a period: tests/rename).
    dead = {**hdfs_root.options, "stale_claim_after": 1e-9}
    time.sleep(0.01)  # the NameNode stamps milliseconds: let one pass after the leftover
    plan = targets.cleanup(hdfs_root.url, older_than=timedelta(0), dry_run=True, **dead)
    assert len(plan.removed) == 1 and ".daily.targets-tmp-" in plan.removed[0]
    before = snapshot(hdfs_root, "report.csv", "table")
    targets.cleanup(hdfs_root.url, older_than=timedelta(0), **dead)
    assert not any(".targets-tmp-" in p for p in hdfs_model.tree("/store"))
    assert snapshot(hdfs_root, "report.csv", "table") == before
    hdfs_model.write_file("/store/table/extra.csv", b"x")
    problems = targets.verify(table.url, **hdfs_root.options).problems
    assert [(p.name, p.problem) for p in problems] == [("extra.csv", "unexpected")]


def test_the_command_and_the_inspection_use_only_public_names_of_targets_fs():
    """targets.cli and targets._inspect see the filesystem layer through the public names of
    targets.fs (and its public modules), never a private module, and never probe a
    backend's signature."""
    package = pathlib.Path(targets.__file__).parent
    for module in ("cli.py", "_inspect.py"):
        tree = ast.parse((package / module).read_text(encoding="utf-8"))
        imported: list[str] = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported += [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported += [f"{node.module}.{a.name}" for a in node.names]
        private = [
            name
            for name in imported
            if name.startswith("targets.fs.") and name.split(".")[2].startswith("_")
        ]
        assert private == [], (module, private)
        assert "inspect" not in imported, module


# -- progress ----------------------------------------------------------------------------------


def invoke_with_progress(root: StoreRoot, setting: str | None, *args: str) -> Any:
    """Run ``targets ARGS`` with $TARGETS_PROGRESS set to ``setting`` (None: unset)."""
    env = {"TARGETS_STORAGE_OPTIONS": json.dumps(root.options), "TARGETS_PROGRESS": setting}
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    assert result.exit_code in (EXIT_OK, EXIT_NO), result.output
    return result


def progress_commands(root: StoreRoot) -> dict[str, list[str]]:
    """Each long command, with the label its progress bar shows."""
    commit_outputs(root)
    table = root.child("table/")
    return {
        "reading status": ["status", table],
        "verifying": ["verify", table],
        "recovering": ["recover", table],
        "removing stale temporaries": ["cleanup", root.url, "--older-than", "0s"],
    }


def make_stale_temporary(root: StoreRoot) -> None:
    """A dead writer's temporary beside an output, old enough for cleanup to remove."""
    temp = pathlib.Path(root.url, f".late.csv.targets-tmp-{uuid.uuid4().hex}")
    temp.write_bytes(b"partial")
    os.utime(temp, (time.time() - 7 * 3600,) * 2)


def test_progress_shows_for_every_long_command_when_forced_on(local_root):
    """TARGETS_PROGRESS=1: status, verify, recover and cleanup each draw a bar on stderr,
    never on stdout. (status and recover had none before.)"""
    for label, args in progress_commands(local_root).items():
        make_stale_temporary(local_root)
        result = invoke_with_progress(local_root, "1", *args)
        assert label in result.stderr, (args, result.stderr)
        assert label not in result.stdout


@pytest.mark.parametrize("setting", [None, "1", "0"])
def test_progress_is_silent_under_json_and_in_a_pipe(local_root, setting):
    """--json never shows a bar, even when forced on; neither does a run whose streams are not
    terminals (the runner's), unless forced on. Before, every command but --json drew one in
    a pipe too."""
    for label, args in progress_commands(local_root).items():
        make_stale_temporary(local_root)
        doc = invoke_with_progress(local_root, setting, *args, "--json")
        assert doc.stderr == "", (args, doc.stderr)
        json.loads(doc.stdout)
        if setting != "1":
            plain = invoke_with_progress(local_root, setting, *args)
            assert label not in plain.stderr and plain.stderr == "", (args, plain.stderr)


def test_progress_follows_the_terminal_when_not_forced(monkeypatch):
    """Unset: a bar only when stdout and stderr are both terminals; 0 and 1 override that;
    --json wins over everything."""
    from targets import cli as cli_module

    for out_tty, err_tty, setting, expected in [
        (True, True, None, True),
        (False, True, None, False),  # stdout piped: `targets status x | grep`
        (True, False, None, False),  # stderr to a log file
        (True, True, "0", False),
        (False, False, "1", True),
    ]:
        monkeypatch.setattr(sys.stdout, "isatty", lambda v=out_tty: v, raising=False)
        monkeypatch.setattr(sys.stderr, "isatty", lambda v=err_tty: v, raising=False)
        if setting is None:
            monkeypatch.delenv("TARGETS_PROGRESS", raising=False)
        else:
            monkeypatch.setenv("TARGETS_PROGRESS", setting)
        assert cli_module._show_progress(False) is expected, (out_tty, err_tty, setting)
        assert cli_module._show_progress(True) is False


def test_progress_bar_is_drawn_on_a_real_terminal(local_root, tmp_path):
    """``targets verify`` in a pseudo-terminal (stdout and stderr a tty, no env override)
    draws the bar with its count; the same command piped prints no bar."""
    import pty

    commit_outputs(local_root)
    url = local_root.child("table/")
    env = {k: v for k, v in os.environ.items() if k != "TARGETS_PROGRESS"}
    terminal, secondary = pty.openpty()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "targets", "verify", url],
            stdin=subprocess.DEVNULL,
            stdout=secondary,
            stderr=secondary,
            env=env,
            timeout=60,
        )
        os.close(secondary)
        seen = b""
        while True:
            try:
                chunk = os.read(terminal, 65536)
            except OSError:  # EIO: the terminal's other end is closed
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(terminal)
    assert proc.returncode == EXIT_OK, seen
    text = seen.decode(errors="replace")
    assert "verifying" in text and "2/2" in text, text
    piped = subprocess.run(
        [sys.executable, "-m", "targets", "verify", url],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert piped.returncode == EXIT_OK and piped.stderr == "", piped.stderr


# -- verify: hidden names the manifest lists -----------------------------------------------


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_verify_checks_hidden_names_the_manifest_lists_as_data(backend, request):
    """``_common_metadata`` and ``_delta_log/0.json``, written through ``writer().open()``,
    are in the manifest and are verified like the other files. Failed on the old code, which
    skipped every hidden name when listing and so reported both as missing (exit 1)."""
    root: StoreRoot = request.getfixturevalue(f"{backend}_root")
    url = root.child("lake/")
    files = {"part-0": b"rows", "_common_metadata": b"schema", "_delta_log/0.json": b"{}"}
    with targets.target(url, **root.options).writer() as w:
        for name, data in files.items():
            with w.open(name, "wb") as f:
                f.write(data)
    doc = run_json(root, "verify", url)
    assert doc["problems"] == []
    assert doc["checked"] == doc["checksummed"] == 3
    put(root, "lake/_delta_log/0.json", b"{changed}")
    damaged = run_json(root, "verify", url, code=EXIT_NO)
    assert [(p["name"], p["problem"]) for p in damaged["problems"]] == [
        ("_delta_log/0.json", "size")
    ]
