"""Targets as Luigi ``FileSystemTarget``\\ s, without importing Luigi.

Luigi's range tools (``RangeDaily``, ``RangeHourly``, ``RangeByMinutes``...) find the missing
days by listing outputs in bulk, and accept only outputs that are
``luigi.target.FileSystemTarget`` instances: anything else fails the range with
``SCHEDULING_FAILED``. ``FileSystemTarget`` is an abstract base class, so `FileTarget` is
registered as a virtual subclass of it, once, by the first target made after ``luigi.target``
was imported (pipelines import Luigi before their tasks make outputs). ``import targets``
alone never imports Luigi.

Only `FileTarget` is registered: a committed file output is exactly a file at its path, so
a listing of its directory tells the range which days are complete. A directory output is
complete only with its ``_SUCCESS`` manifest, which a listing of its parent does not show
(on object stores its files appear before the manifest), so `DirectoryTarget` and
`FlagTarget` stay unregistered: a range over them would count a half-published directory as
done. Give such a task a ``bulk_complete`` classmethod instead (Luigi's own hook), checking
``exists()`` per day.
"""

from __future__ import annotations

import sys

_registered = False


def register_if_imported(file_target: type) -> None:
    """Register ``file_target`` as a ``luigi.target.FileSystemTarget`` if Luigi is imported.

    Cheap enough to call from every target's constructor: after the first registration,
    or while Luigi is not imported, it only reads a flag or ``sys.modules``.
    """
    global _registered
    if _registered:
        return
    luigi_target = sys.modules.get("luigi.target")
    if luigi_target is None or not hasattr(luigi_target, "FileSystemTarget"):
        return  # not imported, or still being imported: the next target registers
    luigi_target.FileSystemTarget.register(file_target)
    _registered = True
