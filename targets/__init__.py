"""Pipeline outputs that appear whole or not at all, on local disks, HDFS, S3 and GCS.

import targets

with targets.target("s3://bucket/out/report.csv").open("w") as f:
    f.write("id,total\\n")
"""

from __future__ import annotations

from targets import fs
from targets._files import AtomicBinaryFile, AtomicTextFile
from targets._inspect import OutputStatus, VerifyProblem, VerifyReport, status, verify
from targets._job import Job
from targets._target import DirectoryTarget, FileTarget, FlagTarget, cleanup, recover, target
from targets.errors import (
    BackendNotInstalled,
    CommitError,
    CorruptManifest,
    FileAlreadyExists,
    IncompleteCommit,
    InvalidTarget,
    IsADirectory,
    MissingParentDirectory,
    NotADirectory,
    OutputChanged,
    StoreUnavailable,
    TargetError,
    TargetExistsError,
    TargetNotFound,
    UnsupportedGuarantee,
)

__version__ = "0.1.0"

__all__ = [
    "AtomicBinaryFile",
    "AtomicTextFile",
    "BackendNotInstalled",
    "CommitError",
    "CorruptManifest",
    "DirectoryTarget",
    "FileAlreadyExists",
    "FileTarget",
    "FlagTarget",
    "IncompleteCommit",
    "InvalidTarget",
    "IsADirectory",
    "Job",
    "MissingParentDirectory",
    "NotADirectory",
    "OutputChanged",
    "OutputStatus",
    "StoreUnavailable",
    "TargetError",
    "TargetExistsError",
    "TargetNotFound",
    "UnsupportedGuarantee",
    "VerifyProblem",
    "VerifyReport",
    "cleanup",
    "fs",
    "recover",
    "status",
    "target",
    "verify",
]
