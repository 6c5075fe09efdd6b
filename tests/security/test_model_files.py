"""Hostile model files and model parameters (issue 14, "Model files" and two "weak messages").

Each row of ``CASES`` is one probe: what an attacker or a careless user hands the engine, and
the refusal it must get. Every probe must end quickly, with a named error, without a large
allocation (the process's peak memory may grow by at most ``MAX_GROWTH``) and without a
crash: the probes that once killed the process (``num_threads`` 1,000,000: a segfault inside
torch; ``sample(10**12)``: an allocation abort) or took gigabytes run in a child process, so a
regression fails this test instead of ending pytest.

The models attacked are real ones, trained for one epoch on 200 rows of adult.csv, then
saved and edited the way a tenant could edit a file it uploads.
"""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from engine.errors import ConfigError, LimitExceededError
from engine.models.ctgan import CTGAN
from engine.models.files import MANIFEST_NAME, WEIGHTS_NAME, ModelFileError
from engine.models.registry import load_model
from engine.models.tvae import TVAE

ADULT = Path("/work/shared/datasets/adult.csv")
MAX_GROWTH = 300 * 1024 * 1024  # bytes of peak-memory growth a refused probe may cost
TINY = {"epochs": 1, "seed": 0, "device": "cpu", "validation_share": 0, "transformer_params": {"n_modes": 2, "gmm_max_iter": 5}}


@dataclass
class Models:
    """Saved, valid models to edit, and the training rows."""

    rows: pl.DataFrame
    tvae: TVAE
    tvae_dir: Path
    tvae_zip: Path
    ctgan_dir: Path


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Models:
    rows = pl.read_csv(ADULT, n_rows=200)
    base = tmp_path_factory.mktemp("models")
    tvae = TVAE(**TINY, embedding_dim=8, compress_dims=(16,), decompress_dims=(16,), num_threads=1).fit(rows)
    ctgan = CTGAN(**TINY, batch_size=50, pac=10, embedding_dim=8, generator_dim=(16,), discriminator_dim=(16,), num_threads=1).fit(rows)
    return Models(rows, tvae, tvae.save(base / "tvae"), tvae.save(base / "tvae.zip"), ctgan.save(base / "ctgan"))


# -- building hostile inputs -------------------------------------------------------------------
def _copy_dir(source: Path, target: Path) -> Path:
    target.mkdir()
    for name in (MANIFEST_NAME, WEIGHTS_NAME):
        (target / name).write_bytes((source / name).read_bytes())
    return target


def _edit_manifest(source: Path, target: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    """A copy of the model directory ``source`` with its manifest changed by ``edit`` (weights untouched)."""
    _copy_dir(source, target)
    manifest = json.loads((target / MANIFEST_NAME).read_text())
    edit(manifest)
    (target / MANIFEST_NAME).write_text(json.dumps(manifest))
    return target


def _set_config(**values: Any) -> Callable[[dict[str, Any]], None]:
    return lambda manifest: manifest["config"].update(values)


def fifo_as_weights(m: Models, tmp: Path) -> None:
    target = tmp / "model"
    target.mkdir()
    (target / MANIFEST_NAME).write_bytes((m.tvae_dir / MANIFEST_NAME).read_bytes())
    os.mkfifo(target / WEIGHTS_NAME)  # opening it for reading would wait for a writer forever
    load_model(target)


def fifo_as_model_zip(m: Models, tmp: Path) -> None:
    os.mkfifo(tmp / "model.zip")
    load_model(tmp / "model.zip")


def weights_linked_to_dev_zero(m: Models, tmp: Path) -> None:
    target = tmp / "model"
    target.mkdir()
    (target / MANIFEST_NAME).write_bytes((m.tvae_dir / MANIFEST_NAME).read_bytes())
    (target / WEIGHTS_NAME).symlink_to("/dev/zero")  # an endless file
    load_model(target)


def weights_linked_to_a_real_file_elsewhere(m: Models, tmp: Path) -> None:
    target = tmp / "model"
    target.mkdir()
    (target / MANIFEST_NAME).write_bytes((m.tvae_dir / MANIFEST_NAME).read_bytes())
    (target / WEIGHTS_NAME).symlink_to(m.tvae_dir / WEIGHTS_NAME)  # valid weights, but outside the folder
    load_model(target)


def subdirectory_in_model_dir(m: Models, tmp: Path) -> None:
    target = _copy_dir(m.tvae_dir, tmp / "model")
    (target / "extra").mkdir()
    load_model(target)


def _rezip(m: Models, tmp: Path, *, weights: bytes | None = None, manifest: bytes | None = None) -> Path:
    target = tmp / "forged.zip"
    with zipfile.ZipFile(m.tvae_zip) as zf:
        members = {name: zf.read(name) for name in (MANIFEST_NAME, WEIGHTS_NAME)}
    members[WEIGHTS_NAME] = weights if weights is not None else members[WEIGHTS_NAME]
    members[MANIFEST_NAME] = manifest if manifest is not None else members[MANIFEST_NAME]
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return target


def zip_weights_hold_more_than_their_header(m: Models, tmp: Path) -> None:
    weights = (m.tvae_dir / WEIGHTS_NAME).read_bytes() + bytes(50 * 1024 * 1024)  # 50 MB of zeros deflate to ~50 KB
    target = _rezip(m, tmp, weights=weights)
    assert target.stat().st_size < 1024 * 1024
    load_model(target)


def zip_weights_over_the_cap(m: Models, tmp: Path) -> None:
    from engine.models.files import read_model_file

    read_model_file(m.tvae_zip, max_weights_bytes=1024)  # the header declares more than the cap: refused before the data


def zip_manifest_of_20_mb(m: Models, tmp: Path) -> None:
    manifest = (m.tvae_dir / MANIFEST_NAME).read_bytes()
    load_model(_rezip(m, tmp, manifest=manifest[:-1] + b" " * (20 * 1024 * 1024) + b"}"))


def zip_bytes_with_bomb(m: Models, tmp: Path) -> None:
    weights = (m.tvae_dir / WEIGHTS_NAME).read_bytes() + bytes(50 * 1024 * 1024)
    load_model(_rezip(m, tmp, weights=weights).read_bytes())  # the object-store path: zip bytes


def manifest_nested_100000_deep(m: Models, tmp: Path) -> None:
    _copy_dir(m.tvae_dir, tmp / "model")
    (tmp / "model" / MANIFEST_NAME).write_text("[" * 100_000 + "]" * 100_000)
    load_model(tmp / "model")


def num_threads_one_million(m: Models, tmp: Path) -> None:
    load_model(_edit_manifest(m.tvae_dir, tmp / "model", _set_config(num_threads=1_000_000))).sample(5)


def tvae_decompress_dims_60000(m: Models, tmp: Path) -> None:
    load_model(_edit_manifest(m.tvae_dir, tmp / "model", _set_config(decompress_dims=[60000, 60000])))


def tvae_compress_dims_60000(m: Models, tmp: Path) -> None:
    """The encoder is not in the file: its widths are never built (sampling needs only the decoder)."""
    model = load_model(_edit_manifest(m.tvae_dir, tmp / "model", _set_config(compress_dims=[60000, 60000])))
    assert model.sample(5).height == 5


def tvae_embedding_dim_mismatch(m: Models, tmp: Path) -> None:
    load_model(_edit_manifest(m.tvae_dir, tmp / "model", _set_config(embedding_dim=60000)))


def ctgan_generator_dim_60000(m: Models, tmp: Path) -> None:
    load_model(_edit_manifest(m.ctgan_dir, tmp / "model", _set_config(generator_dim=[60000, 60000])))


def sample_10_to_the_12(m: Models, tmp: Path) -> None:
    m.tvae.sample(10**12)


def iter_samples_10_to_the_12(m: Models, tmp: Path) -> None:
    m.tvae.iter_samples(10**12)


def tvae_compress_dims_200000(m: Models, tmp: Path) -> None:
    TVAE(**TINY, compress_dims=[200000]).fit(m.rows)


def ctgan_generator_dim_200000(m: Models, tmp: Path) -> None:
    CTGAN(**TINY, batch_size=50, generator_dim=[200000, 200000]).fit(m.rows)


def num_threads_over_the_limit(m: Models, tmp: Path) -> None:
    TVAE(num_threads=10_000)


IN, CHILD = False, True  # where a probe runs: in pytest's process, or in a child process

# (case, probe, runs in a child process, expected error or None for "works", message it must match).
# A probe that once crashed the process or took gigabytes runs in a child process.
CASES: list[tuple[str, Callable[[Models, Path], None], bool, type[Exception] | None, str]] = [
    # directories follow symlinks and FIFOs
    ("a FIFO named weights.safetensors", fifo_as_weights, IN, ModelFileError, r"'weights.safetensors' is a FIFO"),
    ("a FIFO given as the model zip", fifo_as_model_zip, IN, ModelFileError, r"is a FIFO \(named pipe\), not a regular file"),
    ("weights.safetensors -> /dev/zero", weights_linked_to_dev_zero, CHILD, ModelFileError, r"'weights.safetensors' is a symbolic link"),
    ("weights.safetensors -> a valid file elsewhere", weights_linked_to_a_real_file_elsewhere, IN, ModelFileError, r"is a symbolic link"),
    ("a directory inside the model directory", subdirectory_in_model_dir, IN, ModelFileError, r"'extra' is a directory"),
    # zips: each member bounded by what it can legitimately be
    ("zip: weights with 50 MB past their header", zip_weights_hold_more_than_their_header, IN, LimitExceededError, r"holds more bytes than the [\d,]+ its safetensors header declares"),
    ("zip bytes: weights with 50 MB past their header", zip_bytes_with_bomb, IN, LimitExceededError, r"holds more bytes than"),
    ("zip: weights larger than max_weights_bytes", zip_weights_over_the_cap, IN, LimitExceededError, r"larger than the limit of 1,024 bytes"),
    ("zip: model.json of 20 MB", zip_manifest_of_20_mb, IN, LimitExceededError, r"model.json is larger than the limit of 16,777,216 bytes"),
    # manifest values are checked against the weights before anything is allocated
    ("manifest nested 100,000 deep", manifest_nested_100000_deep, IN, ModelFileError, r"nested 100,000 levels deep; the limit is 64"),
    ("manifest num_threads 1,000,000", num_threads_one_million, CHILD, ModelFileError, r"num_threads must be a positive integer of at most 1024"),
    ("TVAE manifest decompress_dims [60000, 60000]", tvae_decompress_dims_60000, CHILD, ModelFileError, r"do not fit a TVAE .*wrong shape"),
    ("TVAE manifest embedding_dim 60000", tvae_embedding_dim_mismatch, IN, ModelFileError, r"do not fit a TVAE"),
    ("TVAE manifest compress_dims [60000, 60000] (encoder not stored)", tvae_compress_dims_60000, CHILD, None, ""),
    ("CTGAN manifest generator_dim [60000, 60000]", ctgan_generator_dim_60000, CHILD, ModelFileError, r"do not fit a CTGAN .*wrong shape"),
    # weak messages: refuse up front, naming the limit
    ("model.sample(10**12)", sample_10_to_the_12, CHILD, LimitExceededError, r"at most 100,000,000 rows \(max_rows\)"),
    ("model.iter_samples(10**12)", iter_samples_10_to_the_12, CHILD, LimitExceededError, r"at most 100,000,000 rows"),
    ("TVAE(compress_dims=[200000]).fit", tvae_compress_dims_200000, CHILD, ConfigError, r"compress_dims=\[200000\].* would need about [\d.]+ GiB"),
    ("CTGAN(generator_dim=[200000, 200000]).fit", ctgan_generator_dim_200000, CHILD, ConfigError, r"generator_dim=\[200000, 200000\].* would need about"),
    ("num_threads above the thread limit", num_threads_over_the_limit, IN, ConfigError, r"num_threads must be a positive integer of at most 1024 or None"),
]
PROBES = {case: probe for case, probe, *_ in CASES}


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def _outcome(probe: Callable[[Models, Path], None], models: Models, tmp: Path) -> tuple[Exception | None, int]:
    """(the engine's refusal or None, peak-memory growth in bytes) of running ``probe``."""
    from engine.errors import DoppelError

    before = _peak_rss()
    try:
        probe(models, tmp)
    except DoppelError as err:
        return err, _peak_rss() - before
    return None, _peak_rss() - before


def _child_main() -> None:
    """Entry point of the child process: ``argv = [json of case names, json of model paths, tmp dir]``.

    Runs the cases in order and prints one JSON line per case as soon as it ends.
    """
    cases, paths, tmp = json.loads(sys.argv[1]), json.loads(sys.argv[2]), Path(sys.argv[3])
    models = Models(rows=pl.read_csv(ADULT, n_rows=200), tvae=load_model(paths["tvae_dir"]), **{k: Path(v) for k, v in paths.items()})
    for i, case in enumerate(cases):
        (tmp / str(i)).mkdir()
        err, growth = _outcome(PROBES[case], models, tmp / str(i))
        kinds = [] if err is None else [c.__name__ for c in type(err).__mro__]
        print(json.dumps({"case": case, "kinds": kinds, "message": str(err) if err else "", "growth": growth}), flush=True)


@pytest.fixture(scope="module")
def child_outcomes(models: Models, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """The outcome of every child-process case: one child runs them all (one import of torch), and a
    case that kills its child is recorded as such and the rest go on in a new child."""
    paths = {"tvae_dir": str(models.tvae_dir), "tvae_zip": str(models.tvae_zip), "ctgan_dir": str(models.ctgan_dir)}
    script = "from tests.security.test_model_files import _child_main; _child_main()"
    remaining = [case for case, _, child, *_ in CASES if child]
    outcomes: dict[str, dict[str, Any]] = {}
    while remaining:
        tmp = tmp_path_factory.mktemp("child")
        try:
            done = subprocess.run(
                [sys.executable, "-c", script, json.dumps(remaining), json.dumps(paths), str(tmp)],
                capture_output=True, text=True, timeout=300, cwd=Path(__file__).parents[2],
            )
            stdout, stderr, code = done.stdout, done.stderr, done.returncode
        except subprocess.TimeoutExpired as exc:
            stdout, stderr, code = (exc.stdout or b"").decode(), (exc.stderr or b"").decode(), "a timeout"
        for line in stdout.splitlines():
            if line.startswith('{"case"'):
                outcome = json.loads(line)
                outcomes[outcome["case"]] = outcome
        remaining = [case for case in remaining if case not in outcomes]
        if remaining:  # the child died in the first of them
            outcomes[remaining.pop(0)] = {"died": f"the child process ended with {code}:\n{stderr[-3000:]}"}
    return outcomes


@pytest.mark.timeout(180)
@pytest.mark.parametrize(("case", "probe", "child", "error", "message"), CASES, ids=[c[0] for c in CASES])
def test_hostile_model_input_is_refused_by_name(
    case: str,
    probe: Callable[[Models, Path], None],
    child: bool,
    error: type[Exception] | None,
    message: str,
    models: Models,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    if child:
        outcome = request.getfixturevalue("child_outcomes")[case]
        if "died" in outcome:
            pytest.fail(f"{case}: {outcome['died']}")
        kinds, text, growth = outcome["kinds"], outcome["message"], outcome["growth"]
    else:
        err, growth = _outcome(probe, models, tmp_path)
        kinds, text = ([] if err is None else [c.__name__ for c in type(err).__mro__]), str(err) if err else ""
    if error is None:
        assert not kinds, f"{case}: refused with {kinds[:1]}: {text}"
    else:
        assert error.__name__ in kinds, f"{case}: expected {error.__name__}, got {kinds[:1] or 'no error'}: {text}"
        assert re.search(message, text), f"{case}: the message does not say {message!r}: {text}"
    assert growth < MAX_GROWTH, f"{case}: the probe grew peak memory by {growth / 2**20:.0f} MiB"


def test_a_model_saved_with_more_threads_than_this_machine_has_loads_and_samples(models: Models, tmp_path: Path) -> None:
    from engine.cpus import machine_threads

    many = _edit_manifest(models.tvae_dir, tmp_path / "model", _set_config(num_threads=machine_threads() + 8))
    assert load_model(many).sample(5, seed=0).height == 5
