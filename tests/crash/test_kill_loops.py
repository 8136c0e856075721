"""SIGKILL at a random moment, 200 times per backend: never a partial output, and
`recover` + `cleanup` always restore a clean state.

A writer process commits file and directory outputs in a loop (small files, and files
larger than one multipart part, so every commit path runs); the test kills it at a random
moment, then checks every output it may have touched. Writers are forked from a
single-threaded "zygote" process that imported everything once, so a kill costs
milliseconds, not an interpreter start.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from datetime import timedelta

import pytest

import targets

KILLS = int(os.environ.get("TARGETS_KILLS", "200"))
PART = 256 << 10

ZYGOTE = textwrap.dedent(
    """
    import hashlib, json, os, signal, sys
    import targets
    import targets.fs.local, targets.fs.s3, targets.fs.gcs  # imported once, before forking

    def payload(name, size):
        seed = hashlib.sha256(name.encode()).digest()
        return (seed * (size // len(seed) + 1))[:size]

    def run(base, options, sizes):
        n = 0
        while True:
            name = f"{base}/o-{n}"
            if n % 2 == 0:
                targets.target(name, **options).write_bytes(payload(name, sizes[n % len(sizes)]))
            else:
                with targets.target(name + "/", **options).writer() as w:
                    for i, size in enumerate(sizes):
                        with w.open(f"p{i}", "wb") as f:
                            f.write(payload(f"{name}/p{i}", size))
            n += 1

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    for line in sys.stdin:
        cmd = json.loads(line)
        pid = os.fork()
        if pid == 0:
            sys.stdin.close()
            try:
                run(cmd["base"], cmd["options"], cmd["sizes"])
            finally:
                os._exit(1)
        print(pid, flush=True)
    """
)


def payload(name: str, size: int) -> bytes:
    seed = hashlib.sha256(name.encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


class Zygote:
    def __init__(self) -> None:
        env = {
            **os.environ,
            "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false",
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-c", ZYGOTE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )

    def start(self, base: str, options: dict, sizes: list[int]) -> int:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps({"base": base, "options": options, "sizes": sizes}) + "\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()


def kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.002)
    raise AssertionError(f"writer {pid} did not die")


def check_after_kill(base: str, options: dict, sizes: list[int]) -> tuple[int, int]:
    """Every output under ``base`` is absent or complete; after recover + cleanup nothing but
    complete outputs remains. Returns (complete outputs, recovered claims)."""
    complete = recovered = 0
    n = 0
    while True:
        name = f"{base}/o-{n}"
        if n % 2 == 0:
            t = targets.target(name, **options)
            if not t.exists():
                break
            assert t.read_bytes() == payload(name, sizes[n % len(sizes)]), name
        else:
            d = targets.target(name + "/", **options)
            if not d.exists():
                state = targets.status(name + "/", **options).state
                assert state in ("absent", "incomplete"), (name, state)
                if state == "incomplete":
                    targets.recover(name + "/", **options)
                    recovered += 1
                    if not d.exists():
                        break
                else:
                    break
            assert d.files() == [f"p{i}" for i in range(len(sizes))], name
            for i, size in enumerate(sizes):
                with d.open(f"p{i}") as f:
                    assert f.read() == payload(f"{name}/p{i}", size), (name, i)
        complete += 1
        n += 1
    # the output after the last complete one may be half-made: it must not exist
    assert not targets.target(f"{base}/o-{n + 1}", **options).exists()
    # A killed writer renews nothing: judged with a 10 ms lease that has passed, its
    # staging is stale (with the default lease, cleanup keeps it for a minute).
    time.sleep(0.05)
    targets.cleanup(base, older_than=timedelta(0), **{**options, "stale_claim_after": 0.01})
    leftovers = targets.status(base + "/", older_than=timedelta(0), **options)
    assert leftovers.stale == [] and leftovers.recent == [], leftovers
    return complete, recovered


@pytest.fixture(scope="module")
def zygote():
    z = Zygote()
    yield z
    z.close()


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["local", "s3", "gcs"])
def test_sigkill_at_random_moments_never_leaves_a_partial_output(backend, request, zygote):
    """Invariant: after a SIGKILL at any moment, every output the writer touched is absent
    or complete (exists() false, or exactly the intended bytes), and recover + cleanup
    leave no temporary, claim or pending upload behind. 200 kills per backend (100 on S3,
    whose writers wait longest before they are killed; ``TARGETS_KILLS`` sets both)."""
    root = request.getfixturevalue(f"{backend}_root")
    options = dict(root.options)
    if backend != "local":
        options.update(part_size=PART, stale_claim_after=0)
    sizes = [1000, 3 * PART // 2] if backend != "local" else [1000, 300_000]
    rng = random.Random(f"kills-{backend}")
    # a new S3 writer spends ~0.25 s creating its client and probing the bucket first
    longest_wait = 0.5 if backend == "s3" else 0.12
    total_complete = total_recovered = 0
    kills = KILLS // 2 if backend == "s3" else KILLS
    for k in range(kills):
        base = root.child(f"k{k}")
        pid = zygote.start(base, options, sizes)
        time.sleep(rng.uniform(0.0, longest_wait))
        kill(pid)
        complete, recovered = check_after_kill(base, options, sizes)
        total_complete += complete
        total_recovered += recovered
    assert total_complete > kills // 4, "the writer got far enough to commit often"
    if backend == "s3":
        uploads = request.getfixturevalue("s3_server")["client"].list_multipart_uploads(
            Bucket=root.url.split("/")[2], Prefix=root.url.split("/", 3)[3]
        )
        assert uploads.get("Uploads", []) == []
    print(
        f"{backend}: {kills} kills, {total_complete} complete outputs, "
        f"{total_recovered} claims recovered"
    )
