"""Nested training state (module and optimizer state dicts) as flat tensors plus JSON.

Checkpoints go through ``engine.models.files`` like model files, so they hold no pickle: the
tensors of a nested state (``{"model": net.state_dict(), "optim": opt.state_dict(), ...}``)
are stored by path name in safetensors and everything else (numbers, strings, the int keys of
an optimizer's state) as a JSON skeleton that names the tensors.
"""

from __future__ import annotations

from typing import Any

from engine.errors import InputError

_TENSOR = "__tensor__"
_TUPLE = "__tuple__"
_ITEMS = "__items__"
_FLOAT = "__float__"


def flatten_state(state: Any, *, prefix: str = "state") -> tuple[Any, dict[str, Any]]:
    """Split ``state`` into a JSON-safe skeleton and ``{name: tensor}``.

    Dict keys may be str or int (optimizer states use int keys); tuples stay tuples; floats
    that JSON cannot hold (nan, inf) are stored as strings.
    """
    import torch

    tensors: dict[str, Any] = {}

    def walk(obj: Any, path: str) -> Any:
        if isinstance(obj, torch.Tensor):
            tensors[path] = obj.detach().cpu().clone()
            return {_TENSOR: path}
        if isinstance(obj, dict):
            items = []
            for key, value in obj.items():
                if not isinstance(key, (str, int)) or isinstance(key, bool):
                    raise TypeError(f"state key {key!r} at {path} must be a str or an int")
                items.append([key, walk(value, f"{path}.{key}")])
            return {_ITEMS: items}
        if isinstance(obj, tuple):
            return {_TUPLE: [walk(v, f"{path}.{i}") for i, v in enumerate(obj)]}
        if isinstance(obj, list):
            return [walk(v, f"{path}.{i}") for i, v in enumerate(obj)]
        if isinstance(obj, float) and (obj != obj or obj in (float("inf"), float("-inf"))):
            return {_FLOAT: repr(obj)}
        if obj is None or isinstance(obj, (bool, int, float, str)):
            return obj
        raise TypeError(f"state value at {path} has type {type(obj).__name__}; only tensors, numbers, strings, lists, tuples and dicts can be saved")

    return walk(state, prefix), tensors


def unflatten_state(skeleton: Any, tensors: dict[str, Any]) -> Any:
    """Rebuild the nested state written by ``flatten_state``; ``InputError`` if malformed."""

    def walk(obj: Any) -> Any:
        if isinstance(obj, dict):
            if set(obj) == {_TENSOR}:
                name = obj[_TENSOR]
                if name not in tensors:
                    raise InputError(f"the checkpoint names tensor {name!r} but does not hold it")
                return tensors[name]
            if set(obj) == {_TUPLE}:
                return tuple(walk(v) for v in obj[_TUPLE])
            if set(obj) == {_FLOAT}:
                return float(obj[_FLOAT])
            if set(obj) == {_ITEMS}:
                items = obj[_ITEMS]
                if not isinstance(items, list) or not all(
                    isinstance(item, list) and len(item) == 2 and isinstance(item[0], (str, int)) for item in items
                ):
                    raise InputError("malformed state entry: __items__ must list [key, value] pairs with str or int keys")
                return {key: walk(value) for key, value in items}
            raise InputError(f"malformed state entry with keys {sorted(obj)}")
        if isinstance(obj, list):
            return [walk(v) for v in obj]
        return obj

    return walk(skeleton)


__all__ = ["flatten_state", "unflatten_state"]
