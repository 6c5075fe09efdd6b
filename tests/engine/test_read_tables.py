"""read_tables: a folder or zip of real baseball files becomes {table: frame}; bad input is refused."""

from __future__ import annotations

import shutil
import stat
import zipfile
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import engine
from engine.data.tables import read_tables
from engine.errors import InputError, LimitExceededError

NAMES = ("batting", "fielding", "players")


@pytest.fixture(scope="module")
def baseball_files(datasets: Path) -> list[Path]:
    return sorted((datasets / "multitable" / "baseball").glob("*.csv.gz"))


@pytest.fixture(scope="module")
def baseball_folder(baseball_files: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("baseball")
    for path in baseball_files:
        shutil.copy(path, folder / path.name)
    return folder


@pytest.fixture(scope="module")
def baseball_zip(baseball_files: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    archive = tmp_path_factory.mktemp("zipped") / "baseball.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in baseball_files:
            zf.write(path, f"baseball/{path.name}")
        zf.writestr("__MACOSX/baseball/._players.csv.gz", b"\x00\x05")
    return archive


@pytest.fixture(scope="module")
def from_folder(baseball_folder: Path) -> dict[str, pl.DataFrame]:
    return read_tables(baseball_folder)


def test_a_folder_gives_one_table_per_file_named_by_its_stem(from_folder, baseball_files):
    assert tuple(from_folder) == NAMES
    assert {name: frame.shape for name, frame in from_folder.items()} == {
        "batting": (107_429, 14),
        "fielding": (143_046, 12),
        "players": (19_878, 10),
    }
    assert_frame_equal(from_folder["players"], engine.read(baseball_files[2]))


def test_a_zip_gives_the_same_tables_as_the_folder(baseball_zip, from_folder):
    zipped = read_tables(baseball_zip)
    assert tuple(zipped) == NAMES
    for name in NAMES:
        assert_frame_equal(zipped[name], from_folder[name])


def test_an_uploaded_zip_is_read_from_its_bytes(baseball_zip):
    tables = read_tables(baseball_zip.read_bytes())
    assert tables["players"].height == 19_878


def test_hidden_files_are_skipped(baseball_folder, tmp_path):
    folder = tmp_path / "with_hidden"
    shutil.copytree(baseball_folder, folder)
    (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    assert tuple(read_tables(folder)) == NAMES


def test_an_empty_folder_is_refused(tmp_path):
    with pytest.raises(InputError, match=r"holds no files; expected one table per file"):
        read_tables(tmp_path)


def test_two_files_with_one_stem_are_refused_naming_both(baseball_files, tmp_path):
    shutil.copy(baseball_files[2], tmp_path / "players.csv.gz")
    engine.read(baseball_files[2]).head(50).write_parquet(tmp_path / "players.parquet")
    with pytest.raises(InputError, match=r"'players.csv.gz' and 'players.parquet' both hold table 'players'"):
        read_tables(tmp_path)


def test_a_file_that_is_not_a_table_is_refused_naming_it(baseball_files, tmp_path):
    shutil.copy(baseball_files[2], tmp_path / baseball_files[2].name)
    (tmp_path / "README.md").write_text("players of the Lahman database")
    with pytest.raises(InputError, match=r"'README.md' is not a table file; expected CSV/TSV"):
        read_tables(tmp_path)


def test_a_sub_folder_is_refused(baseball_files, tmp_path):
    (tmp_path / "more").mkdir()
    shutil.copy(baseball_files[2], tmp_path / baseball_files[2].name)
    with pytest.raises(InputError, match=r"'more' is a folder; read_tables reads one table per file"):
        read_tables(tmp_path)


def test_a_zip_member_climbing_out_of_the_archive_is_refused(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../players.csv", "id,name\n1,a\n")
    with pytest.raises(InputError, match=r"member '../players.csv' points outside the archive"):
        read_tables(archive)


def test_a_link_inside_a_zip_is_refused(tmp_path):
    archive = tmp_path / "link.zip"
    link = zipfile.ZipInfo("players.csv")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(link, "/etc/passwd")
    with pytest.raises(InputError, match=r"member 'players.csv' is a link or a special file"):
        read_tables(archive)


def test_a_zip_that_decompresses_past_the_limit_is_refused_before_reading(baseball_zip):
    with pytest.raises(LimitExceededError, match=r"decompress to 3,\d{3},\d{3} bytes, over the limit of 1,000,000 bytes"):
        read_tables(baseball_zip, max_decompressed_bytes=1_000_000)


def test_a_zip_member_that_decompresses_past_its_declared_size_is_refused(tmp_path):
    archive = tmp_path / "forged.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.csv", b"x\n" + b"0\n" * 5_000_000)
    data = bytearray(archive.read_bytes())
    entry = data.rindex(b"PK\x01\x02")  # the central directory's entry: uncompressed size at +24
    data[entry + 24 : entry + 28] = (1_000).to_bytes(4, "little")
    archive.write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"forged.zip: damaged or unsupported zip archive"):
        read_tables(archive, max_decompressed_bytes=1_000_000)


def test_a_file_that_is_neither_a_folder_nor_a_zip_is_refused(baseball_files):
    with pytest.raises(InputError, match=r"not a folder or a zip archive"):
        read_tables(baseball_files[2])


def test_a_bad_table_inside_a_zip_is_named_with_the_archive(tmp_path):
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("players.csv", "id,name\n")
    with pytest.raises(InputError, match=r"bad.zip:players.csv has a header \(2 columns: id, name\) but no data rows"):
        read_tables(archive)
