"""What only the local folder backend does: its layout, its temporary files, and a killed writer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from infra.settings import Settings
from infra.storage import LocalStore, StorageError, open_store

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "objects")


def _all_files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_an_object_is_a_plain_file_with_its_checksum_record_beside_it(store: LocalStore) -> None:
    store.put_bytes("datasets/1/data.csv", b"a,b\n1,2\n")

    assert (store.root / "datasets/1/data.csv").read_bytes() == b"a,b\n1,2\n"
    assert _all_files(store.root) == [".doppel.lock", "datasets/1/.data.csv.doppel.json", "datasets/1/data.csv"]


def test_a_failed_write_leaves_no_temporary_file_behind(store: LocalStore) -> None:
    store.put_bytes("keep", b"1")
    with pytest.raises(ValueError):
        with store.open_write("datasets/2/data.csv") as out:
            out.write(b"partial")
            raise ValueError("bad row")

    assert not [name for name in _all_files(store.root) if name.endswith(".tmp")]
    assert store.list() == ["keep"]


def test_delete_removes_the_folders_it_emptied(store: LocalStore) -> None:
    store.put_bytes("a/b/c/d.bin", b"1")
    store.put_bytes("a/x.bin", b"2")

    store.delete("a/b/c/d.bin")

    assert not (store.root / "a/b").exists()
    assert store.list() == ["a/x.bin"]


def test_a_file_without_a_checksum_record_is_not_an_object(store: LocalStore) -> None:
    (store.root / "dropped").mkdir(parents=True)
    (store.root / "dropped/by-hand.csv").write_bytes(b"x")

    assert store.list() == []
    assert not store.exists("dropped/by-hand.csv")


def test_a_key_cannot_be_both_an_object_and_a_folder(store: LocalStore) -> None:
    store.put_bytes("a/b", b"object")

    with pytest.raises(StorageError, match="already an object"):
        store.put_bytes("a/b/c", b"nested")
    store.put_bytes("x/y/z", b"nested")
    with pytest.raises(StorageError, match="folder of other objects"):
        store.put_bytes("x/y", b"object")
    assert store.list() == ["a/b", "x/y/z"]


def test_a_writer_killed_mid_stream_leaves_the_previous_version_and_nothing_new(store: LocalStore) -> None:
    store.put_bytes("generated/9/rows.csv", b"complete v1")
    script = (
        "import sys, time\n"
        "from infra.storage import LocalStore\n"
        f"store = LocalStore({str(store.root)!r})\n"
        "with store.open_write('generated/9/rows.csv') as out:\n"
        "    out.write(b'partial v2 ' * 100000)\n"
        "    with store.open_write('generated/9/other.csv') as other:\n"
        "        other.write(b'partial')\n"
        "        print('writing', flush=True)\n"
        "        time.sleep(60)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "writing"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)

    assert child.returncode == -signal.SIGKILL
    assert store.list() == ["generated/9/rows.csv"]
    assert store.get_bytes("generated/9/rows.csv") == b"complete v1"
    assert not store.exists("generated/9/other.csv")
    # The dead writer's temporary files stay on disk (nothing ran to remove them) but are hidden.
    assert [name for name in _all_files(store.root) if name.endswith(".tmp")]


def test_open_store_defaults_to_a_folder_under_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "state")

    store = open_store(settings=settings)
    store.put_bytes("k", b"v")

    assert isinstance(store, LocalStore)
    assert store.root == (tmp_path / "state" / "objects").resolve()
    assert (tmp_path / "state/objects/k").read_bytes() == b"v"


@pytest.mark.parametrize("url", ["file://server/share/objects", "file:", "/plain/path"])
def test_folder_urls_must_be_absolute_file_urls(url: str) -> None:
    with pytest.raises(StorageError, match="expected"):
        open_store(url, settings=Settings())


def test_a_file_url_with_escaped_characters_names_the_folder(tmp_path: Path) -> None:
    folder = tmp_path / "with space"

    store = open_store(folder.as_uri(), settings=Settings())

    assert isinstance(store, LocalStore) and store.root == folder


@pytest.fixture
def configured_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """DOPPEL_STORAGE_URL pointing at a fresh folder, with the process-wide caches reset around the test."""
    from infra.settings import get_settings
    from infra.storage import get_store

    monkeypatch.setenv("DOPPEL_STORAGE_URL", (tmp_path / "configured").as_uri())
    get_settings.cache_clear()
    get_store.cache_clear()
    yield tmp_path / "configured"
    get_settings.cache_clear()
    get_store.cache_clear()


def test_the_configured_store_is_opened_once_per_process(configured_store: Path) -> None:
    from infra.storage import get_store, open_tenant_store

    open_tenant_store("acme").put_bytes("a.txt", b"1")

    assert open_tenant_store("globex").store is open_tenant_store("acme").store is get_store()
    assert isinstance(get_store(), LocalStore) and get_store().root == configured_store
    assert (configured_store / "tenants/acme/a.txt").read_bytes() == b"1"


def test_a_forked_child_opens_its_own_store(configured_store: Path) -> None:
    from infra.storage import get_store

    parent_store = get_store()
    pid = os.fork()
    if pid == 0:  # the child: the cached store must be gone, and a new one must work
        ok = get_store.cache_info().currsize == 0 and get_store() is not parent_store
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)

    assert os.waitstatus_to_exitcode(status) == 0
    assert get_store() is parent_store
