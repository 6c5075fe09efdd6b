"""The dataset service reads an upload with the configured limits and profiles it."""

from __future__ import annotations

import pytest

from engine.errors import ConfigError, InputError, LimitExceededError
from infra.settings import Settings
from infra.tenant_ids import LOCAL_TENANT
from infra.usecases.datasets import PREVIEW_ROWS, clean_filename, profile_upload


@pytest.fixture(scope="module")
def adult_bytes(datasets) -> bytes:
    return (datasets / "adult.csv").read_bytes()


def test_profiles_every_row_of_adult_csv(adult_bytes):
    result = profile_upload(tenant=LOCAL_TENANT, data=adult_bytes, filename="adult.csv")
    assert (result.profile.n_rows, result.profile.n_columns) == (32_561, 15)
    assert result.filename == "adult.csv" and result.n_bytes == len(adult_bytes)
    assert result.preview.height == PREVIEW_ROWS and result.preview.columns[4] == "education-num"


def test_reads_a_gzip_compressed_upload(datasets):
    data = (datasets / "california_housing.csv.gz").read_bytes()
    result = profile_upload(tenant=LOCAL_TENANT, data=data, filename="california_housing.csv.gz")
    assert result.profile.n_rows == 20_640


def test_upload_over_the_byte_cap_is_refused(adult_bytes):
    with pytest.raises(LimitExceededError):
        profile_upload(
            tenant=LOCAL_TENANT, data=adult_bytes, filename="adult.csv", settings=Settings(max_upload_bytes=1_000_000)
        )


def test_upload_over_the_row_cap_is_refused(adult_bytes):
    with pytest.raises(LimitExceededError):
        profile_upload(tenant=LOCAL_TENANT, data=adult_bytes, filename="adult.csv", settings=Settings(max_rows=1_000))


def test_profile_statistics_use_the_configured_sample(adult_bytes):
    result = profile_upload(
        tenant=LOCAL_TENANT, data=adult_bytes, filename="adult.csv", settings=Settings(profile_sample_rows=5_000)
    )
    assert result.profile.sampled_rows == 5_000 and result.profile.n_rows == 32_561


def test_folders_in_the_uploaded_name_are_dropped():
    assert clean_filename("../../etc/adult.csv") == "adult.csv"
    assert clean_filename("C:\\fakepath\\adult.csv") == "adult.csv"


def test_an_upload_without_a_name_is_refused():
    with pytest.raises(InputError, match="no name"):
        profile_upload(tenant=LOCAL_TENANT, data=b"a,b\n1,2\n", filename="../")


def test_an_invalid_tenant_is_refused_before_reading():
    with pytest.raises(ConfigError, match="invalid tenant"):
        profile_upload(tenant="../other", data=b"a,b\n1,2\n", filename="x.csv")
