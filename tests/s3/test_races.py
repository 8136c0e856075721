"""Real races: 8 OS processes commit to one output, 30 rounds; exactly one wins each round."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from targets.fs import resolve
from tests.fixtures import StoreRoot
from tests.fixtures.s3 import BUCKET, PART_SIZE
from tests.race import Outcome, race

PROCESSES = 8
ROUNDS = 30

pytestmark = pytest.mark.race


def _content(r: int, w: int, name: str, size: int) -> bytes:
    line = f"round {r} writer {w} file {name}\n".encode()
    return (line * (size // len(line) + 1))[:size]


def _big(r: int) -> bool:
    return r % 6 == 0  # some rounds race multipart uploads too


def _file_size(r: int, w: int) -> int:
    return 2 * PART_SIZE + 100 + w if _big(r) else 100 + w


def _dir_files(r: int, w: int) -> dict[str, int]:
    files = {f"w{w}-part-{k}.csv": 50 + k for k in range(3)}
    if _big(r):
        files[f"w{w}-big.bin"] = PART_SIZE + 7
    return files


def file_writer(r: int, w: int, root_url: str, options: dict[str, Any]) -> str:
    fs, path = resolve(f"{root_url}/file-{r}.bin", **options)
    writer = fs.open_output(path)
    writer.write(_content(r, w, "file", _file_size(r, w)))
    writer.commit()
    return "committed"


def dir_writer(r: int, w: int, root_url: str, options: dict[str, Any]) -> str:
    fs, path = resolve(f"{root_url}/dir-{r}", **options)
    writer = fs.directory_writer(path)
    for name, size in _dir_files(r, w).items():
        with writer.open(name) as f:
            f.write(_content(r, w, name, size))
    return str(writer.commit()["writer"])


def _winner(r: int, outcomes: list[Outcome]) -> int:
    winners = [o.worker for o in outcomes if o.ok]
    assert len(winners) == 1, f"round {r}: winners {winners}: {outcomes}"
    losers = [o for o in outcomes if not o.ok]
    assert all(o.error == "TargetExistsError" for o in losers), losers
    return winners[0]


def _key_prefix(root: StoreRoot) -> str:
    return root.url.split("/", 3)[3]


def _no_uploads(client: Any, prefix: str) -> None:
    uploads = client.list_multipart_uploads(Bucket=BUCKET, Prefix=prefix).get("Uploads", [])
    assert uploads == [], f"pending uploads left behind: {[u['Key'] for u in uploads]}"


def test_file_race(s3_root: StoreRoot, s3_server: dict[str, Any]) -> None:
    client = s3_server["client"]
    base = _key_prefix(s3_root)

    def check(r: int, outcomes: list[Outcome]) -> None:
        w = _winner(r, outcomes)
        key = f"{base}/file-{r}.bin"
        body = client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        assert body == _content(r, w, "file", _file_size(r, w)), f"round {r}: content"
        _no_uploads(client, key)

    rounds = race(
        file_writer,
        processes=PROCESSES,
        rounds=ROUNDS,
        args=(s3_root.url, s3_root.options),
        on_round=check,
    )
    assert len(rounds) == ROUNDS


def test_directory_race(s3_root: StoreRoot, s3_server: dict[str, Any]) -> None:
    client = s3_server["client"]
    base = _key_prefix(s3_root)
    seen: set[str] = set()
    stop = threading.Event()

    def watch() -> None:  # every key ever listed under the outputs, while the race runs
        paginator = client.get_paginator("list_objects_v2")
        while not stop.is_set():
            for page in paginator.paginate(Bucket=BUCKET, Prefix=base + "/"):
                seen.update(o["Key"] for o in page.get("Contents", []))
            stop.wait(0.005)

    def check(r: int, outcomes: list[Outcome]) -> None:
        w = _winner(r, outcomes)
        prefix = f"{base}/dir-{r}/"
        listed = client.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
        names = sorted(o["Key"][len(prefix) :] for o in listed)
        expected = _dir_files(r, w)
        assert names == sorted(["_SUCCESS", "_targets_claim", *expected]), f"round {r}"
        for name, size in expected.items():
            body = client.get_object(Bucket=BUCKET, Key=prefix + name)["Body"].read()
            assert body == _content(r, w, name, size), f"round {r}: {name}"
        _no_uploads(client, prefix)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        rounds = race(
            dir_writer,
            processes=PROCESSES,
            rounds=ROUNDS,
            args=(s3_root.url, s3_root.options),
            on_round=check,
        )
    finally:
        stop.set()
        watcher.join()
    winners = {r: _winner(r, outcomes) for r, outcomes in enumerate(rounds)}
    for key in seen:
        rel = key[len(base) + 1 :]
        if rel.startswith(".targets-probe-"):  # each process's capability probe
            continue
        r_part, name = rel.split("/", 1)
        r = int(r_part.removeprefix("dir-"))
        assert name in ("_SUCCESS", "_targets_claim") or name.startswith(f"w{winners[r]}-"), (
            f"a loser's object was listed under the output: {key}"
        )
    assert len(seen) > ROUNDS  # the watcher did see the outputs being written
