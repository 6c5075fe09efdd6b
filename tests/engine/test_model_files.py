"""Model files hold safetensors weights and a JSON manifest; nothing in them can run code."""

import json
import pickle
import zipfile

import pytest
import torch

from engine.models.files import ModelFileError, read_model_file, write_model_file

TENSORS = {"layer.weight": torch.arange(12, dtype=torch.float32).reshape(3, 4), "layer.bias": torch.zeros(3)}


@pytest.mark.parametrize("name", ["model.zip", "model"])
def test_written_model_reads_back_identical(tmp_path, name):
    write_model_file(tmp_path / name, manifest={"kind": "tvae", "config": {"epochs": 3}}, tensors=TENSORS)
    loaded = read_model_file(tmp_path / name, known_kinds={"tvae"})
    assert loaded.manifest["config"] == {"epochs": 3}
    assert all(torch.equal(loaded.tensors[k], v) for k, v in TENSORS.items())


def test_existing_model_directory_is_never_overwritten(tmp_path):
    write_model_file(tmp_path / "m", manifest={"kind": "tvae"}, tensors=TENSORS)
    with pytest.raises(ModelFileError, match="immutable"):
        write_model_file(tmp_path / "m", manifest={"kind": "tvae"}, tensors=TENSORS)


class _RunsCode:
    def __reduce__(self):
        return (exec, ("open('PWNED', 'w').write('x')",))


def test_pickled_weights_are_refused_and_never_executed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_model_file(tmp_path / "m.zip", manifest={"kind": "tvae"}, tensors=TENSORS)
    with zipfile.ZipFile(tmp_path / "m.zip") as zf:
        manifest = json.loads(zf.read("model.json"))
    evil = pickle.dumps({"layer.weight": _RunsCode()})
    import hashlib

    manifest["weights_sha256"] = hashlib.sha256(evil).hexdigest()  # a careful forger fixes the checksum
    with zipfile.ZipFile(tmp_path / "evil.zip", "w") as zf:
        zf.writestr("model.json", json.dumps(manifest))
        zf.writestr("weights.safetensors", evil)
    with pytest.raises(ModelFileError, match="not a valid safetensors file"):
        read_model_file(tmp_path / "evil.zip")
    assert not (tmp_path / "PWNED").exists()


def test_tampered_weights_fail_the_checksum(tmp_path):
    write_model_file(tmp_path / "m", manifest={"kind": "tvae"}, tensors=TENSORS)
    weights = tmp_path / "m" / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="checksum"):
        read_model_file(tmp_path / "m")


def test_unknown_kind_is_refused(tmp_path):
    write_model_file(tmp_path / "m", manifest={"kind": "mystery"}, tensors=TENSORS)
    with pytest.raises(ModelFileError, match="unknown model kind 'mystery'"):
        read_model_file(tmp_path / "m", known_kinds={"ctgan", "tvae", "argn"})


def test_a_torch_save_file_is_not_a_model(tmp_path):
    torch.save(TENSORS, tmp_path / "model.pt")
    with pytest.raises(ModelFileError, match="not a Doppel model"):
        read_model_file(tmp_path / "model.pt")


def test_archive_with_extra_members_is_refused(tmp_path):
    write_model_file(tmp_path / "m.zip", manifest={"kind": "tvae"}, tensors=TENSORS)
    with zipfile.ZipFile(tmp_path / "m.zip", "a") as zf:
        zf.writestr("hook.py", "print('hi')")
    with pytest.raises(ModelFileError, match="exactly model.json and weights.safetensors"):
        read_model_file(tmp_path / "m.zip")


def test_weights_are_read_by_their_safetensors_header_and_nothing_past_it(tmp_path):
    """The header declares every tensor's bytes: the data must be exactly that long."""
    write_model_file(tmp_path / "m", manifest={"kind": "tvae"}, tensors=TENSORS)
    weights = tmp_path / "m" / "weights.safetensors"
    weights.write_bytes(weights.read_bytes() + b"\0" * 10)
    with pytest.raises(ModelFileError, match="holds more bytes than the [0-9,]+ its safetensors header declares"):
        read_model_file(tmp_path / "m")


def test_truncated_weights_are_named_as_truncated(tmp_path):
    write_model_file(tmp_path / "m", manifest={"kind": "tvae"}, tensors=TENSORS)
    weights = tmp_path / "m" / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:-4])
    with pytest.raises(ModelFileError, match="ends 4 bytes before the length its header declares"):
        read_model_file(tmp_path / "m")


def test_a_manifest_nested_deeper_than_the_limit_is_refused_without_recursion(tmp_path):
    from engine.models.files import MAX_JSON_DEPTH

    write_model_file(tmp_path / "m", manifest={"kind": "tvae"}, tensors=TENSORS)
    manifest = json.loads((tmp_path / "m" / "model.json").read_text())
    manifest["deep"] = json.loads("[" * (MAX_JSON_DEPTH - 2) + "]" * (MAX_JSON_DEPTH - 2))  # 1 + 62 levels: allowed
    (tmp_path / "m" / "model.json").write_text(json.dumps(manifest))
    assert read_model_file(tmp_path / "m").manifest["kind"] == "tvae"
    (tmp_path / "m" / "model.json").write_text(json.dumps(manifest).replace("[]", "[[[]]]", 1))  # 65 levels
    with pytest.raises(ModelFileError, match=f"nested 65 levels deep; the limit is {MAX_JSON_DEPTH} levels"):
        read_model_file(tmp_path / "m")


def test_brackets_inside_strings_do_not_count_as_nesting(tmp_path):
    write_model_file(tmp_path / "m", manifest={"kind": "tvae", "note": "[{" * 1000 + '\\"[' * 100}, tensors=TENSORS)
    assert read_model_file(tmp_path / "m").manifest["note"].startswith("[{[{")


def test_a_checkpoint_state_with_malformed_items_is_an_input_error():
    from engine.errors import InputError
    from engine.models.state import unflatten_state

    with pytest.raises(InputError, match="must list \\[key, value\\] pairs"):
        unflatten_state({"__items__": [["a", 1, 2]]}, {})
