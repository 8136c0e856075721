"""The HDFS namespace model against the rules of Hadoop's FileSystem specification.

Each test names the rule it checks; the model's docstrings quote the specification."""

from __future__ import annotations

import pytest

from targets.testing.hdfs_model import HDFSModel, ModelWriteOptions


@pytest.fixture
def model() -> HDFSModel:
    m = HDFSModel()
    m.mkdirs("/data", create_parent=True)
    return m


# -- rename2 (hdfs-native's Client.rename) ----------------------------------------------------


def test_rename2_onto_existing_directory_refuses_and_never_nests(model):
    model.write_file("/data/tmp/part-0", b"new")
    model.write_file("/data/out/part-0", b"old")
    with pytest.raises(FileExistsError):
        model.rename("/data/tmp", "/data/out")
    assert model.tree("/data") == ["out/", "out/part-0", "tmp/", "tmp/part-0"]


def test_rename2_onto_existing_file_refuses_without_overwrite(model):
    model.write_file("/data/a", b"a")
    model.write_file("/data/b", b"b")
    with pytest.raises(FileExistsError):
        model.rename("/data/a", "/data/b")
    assert model.read_file("/data/b") == b"b"


def test_rename2_overwrite_replaces_a_file(model):
    model.write_file("/data/a", b"a")
    model.write_file("/data/b", b"b")
    model.rename("/data/a", "/data/b", overwrite=True)
    assert model.tree("/data") == ["b"]
    assert model.read_file("/data/b") == b"a"


def test_rename2_overwrite_replaces_an_empty_directory(model):
    model.write_file("/data/tmp/x", b"x")
    model.mkdirs("/data/out")
    model.rename("/data/tmp", "/data/out", overwrite=True)
    assert model.tree("/data") == ["out/", "out/x"]


def test_rename2_overwrite_refuses_a_non_empty_directory(model):
    model.write_file("/data/tmp/x", b"x")
    model.write_file("/data/out/y", b"y")
    with pytest.raises(RuntimeError, match="not empty"):
        model.rename("/data/tmp", "/data/out", overwrite=True)
    assert model.tree("/data") == ["out/", "out/y", "tmp/", "tmp/x"]


@pytest.mark.parametrize("overwrite", [False, True])
def test_rename2_refuses_file_onto_directory_and_directory_onto_file(model, overwrite):
    model.write_file("/data/f", b"f")
    model.mkdirs("/data/d")
    with pytest.raises((RuntimeError, FileExistsError)):
        model.rename("/data/f", "/data/d", overwrite=overwrite)
    with pytest.raises((RuntimeError, FileExistsError)):
        model.rename("/data/d", "/data/f", overwrite=overwrite)
    assert model.tree("/data") == ["d/", "f"]


def test_rename2_missing_source_is_file_not_found(model):
    with pytest.raises(FileNotFoundError):
        model.rename("/data/nothing", "/data/x")


def test_rename2_missing_destination_parent_is_file_not_found(model):
    model.write_file("/data/a", b"a")
    with pytest.raises(FileNotFoundError):
        model.rename("/data/a", "/data/no/such/parent/a")
    assert model.tree("/data") == ["a"]


def test_rename2_destination_parent_that_is_a_file_is_parent_not_directory(model):
    model.write_file("/data/a", b"a")
    model.write_file("/data/f", b"f")
    with pytest.raises(RuntimeError, match="ParentNotDirectoryException"):
        model.rename("/data/a", "/data/f/a")


def test_rename2_into_own_subtree_is_refused(model):
    model.mkdirs("/data/d/sub", create_parent=True)
    with pytest.raises(RuntimeError, match="under source"):
        model.rename("/data/d", "/data/d/sub/d")


# -- the old rename (FileSystem.rename, `hadoop fs -mv`) -----------------------------------------


def test_old_rename_moves_into_an_existing_directory(model):
    model.write_file("/data/tmp/part-0", b"new")
    model.write_file("/data/out/part-0", b"old")
    assert model.rename_old("/data/tmp", "/data/out") is True
    assert model.tree("/data") == ["out/", "out/part-0", "out/tmp/", "out/tmp/part-0"]


def test_old_rename_onto_existing_file_returns_false(model):
    model.write_file("/data/a", b"a")
    model.write_file("/data/b", b"b")
    assert model.rename_old("/data/a", "/data/b") is False
    assert model.read_file("/data/b") == b"b"
    assert model.read_file("/data/a") == b"a"


def test_old_rename_missing_source_returns_false(model):
    assert model.rename_old("/data/nothing", "/data/x") is False


def test_old_rename_missing_destination_parent_returns_false(model):
    model.write_file("/data/a", b"a")
    assert model.rename_old("/data/a", "/data/no/parent/a") is False
    assert model.tree("/data") == ["a"]


def test_old_rename_to_a_new_name_renames(model):
    model.write_file("/data/a", b"a")
    assert model.rename_old("/data/a", "/data/b") is True
    assert model.tree("/data") == ["b"]


# -- create, mkdirs, delete, listStatus -------------------------------------------------------


def test_create_without_overwrite_refuses_an_existing_file(model):
    model.write_file("/data/a", b"a")
    with pytest.raises(FileExistsError):
        model.create("/data/a", ModelWriteOptions(overwrite=False))
    assert model.read_file("/data/a") == b"a"


def test_create_refuses_a_file_still_being_written(model):
    writer = model.create("/data/a", ModelWriteOptions(overwrite=False))
    with pytest.raises(FileExistsError):
        model.create("/data/a", ModelWriteOptions(overwrite=True))
    writer.close()


def test_create_over_a_directory_fails_even_with_overwrite(model):
    model.mkdirs("/data/d")
    with pytest.raises(FileExistsError):
        model.create("/data/d", ModelWriteOptions(overwrite=True))


def test_create_shows_the_file_while_it_is_written(model):
    writer = model.create("/data/a", ModelWriteOptions())
    writer.write(b"part")
    assert model.get_file_info("/data/a").length == 4
    writer.close()


def test_create_without_create_parent_needs_the_parent(model):
    with pytest.raises(FileNotFoundError):
        model.create("/data/no/a", ModelWriteOptions(create_parent=False))
    model.create("/data/yes/a", ModelWriteOptions(create_parent=True)).close()
    assert model.tree("/data") == ["yes/", "yes/a"]


def test_mkdirs_succeeds_when_the_directory_exists(model):
    model.mkdirs("/data/d")
    model.mkdirs("/data/d")  # no error: mkdirs cannot serve as a lock or an existence check
    assert model.tree("/data") == ["d/"]


def test_mkdirs_refuses_a_file_and_a_file_ancestor(model):
    model.write_file("/data/f", b"f")
    with pytest.raises(FileExistsError):
        model.mkdirs("/data/f")
    with pytest.raises(RuntimeError, match="ParentNotDirectoryException"):
        model.mkdirs("/data/f/sub", create_parent=True)


def test_delete_rules(model):
    model.write_file("/data/d/x", b"x")
    with pytest.raises(RuntimeError, match="PathIsNotEmptyDirectoryException"):
        model.delete("/data/d")
    assert model.delete("/data/missing") is False
    assert model.delete("/data/d", recursive=True) is True
    assert model.delete("/", recursive=True) is False
    assert model.tree("/data") == []


def test_list_status_of_a_file_is_the_file_and_of_a_directory_its_children(model):
    model.write_file("/data/b", b"bb")
    model.write_file("/data/a/x", b"x")
    assert [s.path for s in model.list_status("/data")] == ["/data/a", "/data/b"]
    assert [s.path for s in model.list_status("/data/b")] == ["/data/b"]
    assert [s.path for s in model.list_status("/data", True)] == [
        "/data/a",
        "/data/a/x",
        "/data/b",
    ]
    with pytest.raises(FileNotFoundError):
        list(model.list_status("/data/missing"))


def test_paths_with_dot_segments_are_invalid(model):
    with pytest.raises(RuntimeError, match="InvalidPathException"):
        model.get_file_info("/data/../etc")


# -- fault injection --------------------------------------------------------------------------


def test_retry_after_success_applies_once_and_reports_the_retry(model):
    model.write_file("/data/a", b"a")
    model.retry_after_success("rename")
    with pytest.raises(FileNotFoundError):
        model.rename("/data/a", "/data/b")
    assert model.tree("/data") == ["b"]


def test_lose_next_response_applies_and_raises_a_transport_error(model):
    model.write_file("/data/a", b"a")
    model.lose_next_response("rename")
    with pytest.raises(ConnectionResetError):
        model.rename("/data/a", "/data/b")
    assert model.tree("/data") == ["b"]
