"""The project installs Azurite itself (`targets.testing.azurite`): from the cache folder
when it is there, with a clear error naming the command to run when node or npm is not."""

from __future__ import annotations

import re

import pytest

from targets.testing import azurite
from targets.testing.servers import AzuriteServer


@pytest.fixture
def azurite_installed(request: pytest.FixtureRequest) -> AzuriteServer:
    """The session's Azurite (installed, or the test is skipped with the command to run)."""
    server: AzuriteServer = request.getfixturevalue("azurite")
    return server


def test_without_node_or_npm_the_error_names_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setattr(azurite.shutil, "which", lambda name: None)
    with pytest.raises(azurite.AzuriteUnavailable, match=re.escape(azurite.INSTALL_COMMAND)):
        azurite.install(tmp_path / "azurite")
    assert not (tmp_path / "azurite").exists()


def test_an_installed_azurite_is_found_without_npm(tmp_path, monkeypatch):
    script = tmp_path / "azurite" / "node_modules" / ".bin" / "azurite-blob"
    script.parent.mkdir(parents=True)
    script.write_text("")
    monkeypatch.setattr(azurite.shutil, "which", lambda name: None)
    assert azurite.install(tmp_path / "azurite") == script


def test_the_cache_folder_can_be_chosen(tmp_path, monkeypatch):
    monkeypatch.setenv("TARGETS_AZURITE_DIR", str(tmp_path / "here"))
    assert azurite.cache_dir() == tmp_path / "here"
    monkeypatch.delenv("TARGETS_AZURITE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert azurite.cache_dir() == tmp_path / "targets" / f"azurite-{azurite.VERSION}"


def test_the_blob_service_runs_on_loopback_without_telemetry(azurite_installed):
    args = azurite.blob_command("127.0.0.1", 12345)
    assert args[args.index("--blobHost") + 1] == "127.0.0.1"
    assert "--disableTelemetry" in args and "--inMemoryPersistence" in args
    assert "--location" not in args
