"""Storing a table that a version of the dataset already holds makes no new version and names that version.

Runs through the real dataset service on the embedded SQLite and on PostgreSQL (row-level
security, app role), with the local object store.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from infra.records.authz import Actor
from infra.usecases import dataset_store
from infra.usecases.stored_profiles import ColumnEdits
from tests.infra.workspace_support import member_workspace


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def workspace(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[tuple[str, Actor]]:
    with member_workspace(request.param, tmp_path_factory.mktemp("identical-upload"), prefix="dedupe") as workspace:
        yield workspace


def _csv(datasets: Path, rows: int, offset: int = 0) -> bytes:
    buffer = io.BytesIO()
    pl.read_csv(datasets / "adult.csv", n_rows=offset + rows).slice(offset).write_csv(buffer)
    return buffer.getvalue()


def _upload(workspace: tuple[str, Actor], name: str, data: bytes) -> dataset_store.StoredVersion:
    tenant, actor = workspace
    return dataset_store.store_upload(tenant, data=data, filename=f"{name}.csv", dataset_name=name, actor=actor)


def _versions(workspace: tuple[str, Actor], name: str) -> list[int]:
    tenant, actor = workspace
    [dataset] = [d for d in dataset_store.list_datasets(tenant, actor=actor) if d.name == name]
    return [v.version for v in dataset.versions]


def test_an_earlier_versions_file_uploaded_again_gives_that_version_back(workspace, datasets):
    name = f"people-{uuid.uuid4().hex[:6]}"
    first = _upload(workspace, name, _csv(datasets, 120))
    second = _upload(workspace, name, _csv(datasets, 120, offset=500))
    again = _upload(workspace, name, _csv(datasets, 120))
    assert (first.version, second.version) == (1, 2) and first.created and second.created
    assert not again.created
    assert (again.version_id, again.version, again.content_hash) == (first.version_id, 1, first.content_hash)
    assert _versions(workspace, name) == [2, 1]


def test_the_same_table_with_other_edits_is_a_new_version_and_the_plain_file_equals_v1(workspace, datasets):
    tenant, actor = workspace
    name = f"typed-{uuid.uuid4().hex[:6]}"
    data = _csv(datasets, 100)
    first = _upload(workspace, name, data)
    typed = dataset_store.save_edits(tenant, version_id=first.version_id,
                                     edits=ColumnEdits(types={"age": "categorical"}), actor=actor)
    assert typed.created and typed.version == 2 and typed.content_hash == first.content_hash  # same table, edited
    again = _upload(workspace, name, data)
    assert not again.created and again.version == 1  # the plain file is v1, not v2 with its edits
    same_edits = dataset_store.save_edits(tenant, version_id=first.version_id,
                                          edits=ColumnEdits(types={"age": "categorical"}), actor=actor)
    assert not same_edits.created and same_edits.version == 2
    assert _versions(workspace, name) == [2, 1]
