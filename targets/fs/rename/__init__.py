"""Rename-based commits: one protocol (`RenameFS`) over one seam (`RenameStore`), with an
adapter per backend (`targets.fs.local` for POSIX disks, `targets.fs.hdfs` for HDFS)."""

from targets.fs.rename.fs import RenameFS
from targets.fs.rename.store import Entry, RenameStore, RenameUnsupported, Sink

__all__ = ["Entry", "RenameFS", "RenameStore", "RenameUnsupported", "Sink"]
