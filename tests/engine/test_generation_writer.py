"""The chunked writer: Parquet / CSV / NDJSON, on disk and on a real S3 server (moto's server mode)."""

from __future__ import annotations

import io
import socket
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from engine.errors import ConfigError, InputError, SourceUnavailableError
from engine.generation.writer import S3_MIN_PART_BYTES, ChunkedWriter, infer_format, write_frames

READERS = {"parquet": pl.read_parquet, "csv": pl.read_csv, "ndjson": pl.read_ndjson}


@pytest.fixture(scope="module")
def adult(datasets: Path) -> pl.DataFrame:
    return pl.read_csv(datasets / "adult.csv")


def _chunks(frame: pl.DataFrame, size: int) -> Iterator[pl.DataFrame]:
    for start in range(0, frame.height, size):
        yield frame.slice(start, size)


@pytest.mark.parametrize("fmt", ["parquet", "csv", "ndjson"])
def test_chunks_written_locally_read_back_as_the_whole_table(adult: pl.DataFrame, tmp_path: Path, fmt: str) -> None:
    target = tmp_path / f"adult.{fmt}"
    result = write_frames(_chunks(adult, 5_000), target)
    assert (result.rows, result.chunks, result.format) == (adult.height, 7, fmt)
    assert result.bytes == target.stat().st_size
    assert READERS[fmt](target).equals(adult)


def test_each_chunk_becomes_a_parquet_row_group(adult: pl.DataFrame, tmp_path: Path) -> None:
    target = tmp_path / "adult.parquet"
    write_frames(_chunks(adult.head(10_000), 2_500), target)
    assert pq.ParquetFile(target).metadata.num_row_groups == 4


def test_the_chunks_are_consumed_one_at_a_time(adult: pl.DataFrame, tmp_path: Path) -> None:
    target = tmp_path / "adult.csv"
    seen_on_disk: list[int] = []

    def frames() -> Iterator[pl.DataFrame]:
        for chunk in _chunks(adult.head(6_000), 2_000):
            yield chunk
            # by the time the next chunk is asked for, this one is already written out
            parts = list(tmp_path.glob(".adult.csv.*.part"))
            seen_on_disk.append(parts[0].stat().st_size if parts else 0)

    write_frames(frames(), target)
    assert seen_on_disk[0] > 0 and seen_on_disk == sorted(seen_on_disk) and len(set(seen_on_disk)) == 3


def test_a_failure_midway_leaves_nothing_behind(adult: pl.DataFrame, tmp_path: Path) -> None:
    target = tmp_path / "adult.parquet"

    def frames() -> Iterator[pl.DataFrame]:
        yield adult.head(1_000)
        raise RuntimeError("generation failed")

    with pytest.raises(RuntimeError, match="generation failed"):
        write_frames(frames(), target)
    assert list(tmp_path.iterdir()) == []


def test_an_existing_file_is_replaced_only_when_the_new_one_is_complete(adult: pl.DataFrame, tmp_path: Path) -> None:
    target = tmp_path / "adult.csv"
    write_frames([adult.head(10)], target)
    with pytest.raises(RuntimeError):
        with ChunkedWriter(target) as writer:
            writer.write(adult.head(500))
            raise RuntimeError("stop")
    assert pl.read_csv(target).equals(adult.head(10))


def test_chunks_with_another_schema_are_refused(adult: pl.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="chunk 2 has schema"):
        write_frames([adult.head(10), adult.head(10).drop("age")], tmp_path / "x.ndjson")
    assert list(tmp_path.iterdir()) == []


def test_no_rows_still_writes_a_readable_file_with_the_columns(adult: pl.DataFrame, tmp_path: Path) -> None:
    for fmt in ("parquet", "csv"):
        target = tmp_path / f"empty.{fmt}"
        write_frames([adult.head(0)], target)
        assert READERS[fmt](target).columns == adult.columns


def test_the_format_comes_from_the_suffix_or_is_asked_for(tmp_path: Path) -> None:
    assert infer_format("out.jsonl") == "ndjson"
    assert infer_format("s3://b/k.PARQUET") == "parquet"
    assert infer_format(tmp_path / "out.data", "csv") == "csv"
    with pytest.raises(ConfigError, match="cannot tell the output format"):
        infer_format("out.xlsx")
    with pytest.raises(ConfigError, match="format must be one of parquet, csv, ndjson"):
        infer_format("out.csv", "excel")


# -- S3 ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ACCESS_KEY_ID", "doppel-test")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "doppel-test")
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_endpoint: str, request: pytest.FixtureRequest) -> str:
    import boto3

    name = "doppel-" + request.node.name.lower().replace("_", "-")[:40].strip("-")
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=name)
    return name


def _s3_object(endpoint: str, bucket: str, key: str) -> tuple[bytes, str]:
    import boto3

    answer = boto3.client("s3", endpoint_url=endpoint).get_object(Bucket=bucket, Key=key)
    return answer["Body"].read(), answer["ETag"].strip('"')


def test_a_small_output_goes_to_s3_in_one_put(adult: pl.DataFrame, s3_endpoint: str, bucket: str) -> None:
    result = write_frames(_chunks(adult.head(3_000), 1_000), f"s3://{bucket}/out/adult.parquet", endpoint_url=s3_endpoint)
    body, etag = _s3_object(s3_endpoint, bucket, "out/adult.parquet")
    assert result.rows == 3_000 and result.bytes == len(body)
    assert "-" not in etag  # a single PUT, not a multipart upload
    assert pl.read_parquet(io.BytesIO(body)).equals(adult.head(3_000))


def test_a_large_output_streams_to_s3_as_a_multipart_upload(adult: pl.DataFrame, s3_endpoint: str, bucket: str) -> None:
    four_times = pl.concat([adult] * 4)  # about 15 MB of CSV
    result = write_frames(_chunks(four_times, 20_000), f"s3://{bucket}/adult.csv", endpoint_url=s3_endpoint, part_bytes=S3_MIN_PART_BYTES)
    body, etag = _s3_object(s3_endpoint, bucket, "adult.csv")
    parts = -(-result.bytes // S3_MIN_PART_BYTES)
    assert parts >= 3 and etag.endswith(f"-{parts}")
    assert pl.read_csv(io.BytesIO(body)).equals(four_times)


def test_the_s3_endpoint_can_come_from_the_environment(
    adult: pl.DataFrame, s3_endpoint: str, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOPPEL_S3_ENDPOINT_URL", s3_endpoint)
    write_frames([adult.head(100)], f"s3://{bucket}/adult.ndjson")
    body, _ = _s3_object(s3_endpoint, bucket, "adult.ndjson")
    assert pl.read_ndjson(io.BytesIO(body)).equals(adult.head(100))


def test_a_failed_s3_write_aborts_the_upload_and_leaves_no_object(adult: pl.DataFrame, s3_endpoint: str, bucket: str) -> None:
    import boto3

    def frames() -> Iterator[pl.DataFrame]:
        yield from _chunks(pl.concat([adult] * 3), 20_000)
        raise RuntimeError("generation failed")

    with pytest.raises(RuntimeError):
        write_frames(frames(), f"s3://{bucket}/broken.csv", endpoint_url=s3_endpoint, part_bytes=S3_MIN_PART_BYTES)
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    assert client.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_a_missing_bucket_is_a_clear_error(adult: pl.DataFrame, s3_endpoint: str) -> None:
    with pytest.raises(SourceUnavailableError, match=r"s3://no-such-bucket/x.csv: S3 refused the upload \(NoSuchBucket"):
        write_frames([adult.head(10)], "s3://no-such-bucket/x.csv", endpoint_url=s3_endpoint)


def test_an_s3_url_needs_a_bucket_and_a_key() -> None:
    with pytest.raises(ConfigError, match="not an object URL"):
        ChunkedWriter("s3://only-a-bucket.csv").write(pl.DataFrame({"a": [1]}))
