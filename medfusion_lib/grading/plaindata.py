"""Plain data across the sandbox boundary: values become JSON in the kernel, and are rebuilt in the judge.

``encode`` runs in the student's kernel (untrusted; it only has to be honest for honest code). ``decode`` runs
in the trusted judge and rebuilds only plain types — ``float``, ``str``, ``ndarray``, ``DataFrame`` … — from
JSON, never by unpickling, so an object that overrides ``__eq__`` or ``__array_function__`` cannot cross: a
float subclass arrives as a ``float``, an ndarray subclass as an ``ndarray``. Anything that is not plain data
arrives as ``Opaque`` (its type name only), which fails every comparison.

Format: JSON scalars stand for themselves; everything else is ``{"$": tag, ...}``.
"""
from __future__ import annotations

import base64
import math
import sys
from typing import Any

MAX_DEPTH = 40
MAX_ITEMS = 1_000_000           # elements in one container or array
MAX_BYTES = 1 << 20             # one bytes value
NUMERIC_KINDS = "biufc"


class PlainDataError(ValueError):
    """The JSON is not plain data in our format (too deep, unknown tag, inconsistent array)."""


class Opaque:
    """A value that was not plain data in the kernel; only its type name crossed. Equal to nothing."""

    def __init__(self, type_name: str):
        self.type_name = str(type_name)[:200]

    def __eq__(self, other):
        return False

    __hash__ = None

    def __bool__(self):
        raise TypeError(f"not plain data (a {self.type_name}); probe a plain fact about it instead")

    def __repr__(self):
        return f"<not plain data: {self.type_name}>"


# --------------------------------------------------------------------------- kernel side

def _array(a, tag: str = "ndarray") -> dict:
    import numpy as np

    a = np.asarray(a)
    if type(a) is not np.ndarray:
        a = a.view(np.ndarray)
    if a.size > MAX_ITEMS:
        raise PlainDataError(f"array of {a.size} elements is too large to send")
    if a.dtype.kind in NUMERIC_KINDS:
        data = np.ascontiguousarray(a)
        return {"$": tag, "dtype": data.dtype.str, "shape": list(data.shape),
                "b64": base64.b64encode(data.tobytes()).decode("ascii")}
    return {"$": tag, "dtype": "object", "shape": list(a.shape), "v": [encode(x) for x in a.ravel().tolist()]}


def encode(value: Any, depth: int = 0) -> Any:
    """A JSON-able form of ``value`` (see the module docstring)."""
    if depth > MAX_DEPTH:
        raise PlainDataError("nested too deeply")
    if value is None or type(value) in (bool, str):
        return value
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        value = float(value)
        return value if math.isfinite(value) else {"$": "float", "v": repr(value)}
    if isinstance(value, complex):
        return {"$": "complex", "re": encode(float(value.real)), "im": encode(float(value.imag))}
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        if len(value) > MAX_BYTES:
            raise PlainDataError("bytes value too large")
        return {"$": "bytes", "b64": base64.b64encode(bytes(value)).decode("ascii")}
    # Subclasses count as their base type: a subclass's data is sent, its behaviour is not.
    np = sys.modules.get("numpy")
    if np is not None:
        if isinstance(value, np.generic):
            return encode(value.item(), depth + 1)
        if isinstance(value, np.ndarray):
            return _array(value)
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        return _array(torch.Tensor.numpy(torch.Tensor.cpu(torch.Tensor.detach(value))), "tensor")
    pd = sys.modules.get("pandas")
    if pd is not None:
        if isinstance(value, pd.DataFrame):
            return {"$": "frame", "columns": encode(pd.DataFrame.__dict__["columns"].__get__(value), depth + 1),
                    "index": encode(pd.DataFrame.__dict__["index"].__get__(value), depth + 1),
                    "data": [encode(pd.DataFrame(value).iloc[:, j], depth + 1) for j in range(value.shape[1])]}
        if isinstance(value, pd.Series):
            plain = pd.Series(value)
            return {"$": "series", "values": _array(plain.to_numpy()), "dtype": str(plain.dtype),
                    "index": encode(plain.index, depth + 1), "name": encode(plain.name, depth + 1)}
        if isinstance(value, pd.Index):
            return {"$": "index", "values": _array(value.to_numpy()), "dtype": str(value.dtype),
                    "name": encode(value.name, depth + 1)}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = list(value)
        if len(items) > MAX_ITEMS:
            raise PlainDataError("container too large")
        tag = {list: "list", tuple: "tuple", set: "set", frozenset: "frozenset"}[
            next(t for t in (list, tuple, set, frozenset) if isinstance(value, t))]
        return {"$": tag, "v": [encode(x, depth + 1) for x in items]}
    if isinstance(value, dict):
        return {"$": "dict", "k": [encode(k, depth + 1) for k in value], "v": [encode(v, depth + 1) for v in value.values()]}
    return {"$": "opaque", "type": type(value).__name__}


# --------------------------------------------------------------------------- judge side

def _decode_array(obj: dict, depth: int):
    import numpy as np

    shape = obj.get("shape")
    if not isinstance(shape, list) or not all(isinstance(n, int) and n >= 0 for n in shape) or len(shape) > 32:
        raise PlainDataError("bad array shape")
    size = math.prod(shape)
    if size > MAX_ITEMS:
        raise PlainDataError("array too large")
    dtype = obj.get("dtype")
    if dtype == "object":
        values = obj.get("v")
        if not isinstance(values, list) or len(values) != size:
            raise PlainDataError("array values do not match its shape")
        out = np.empty(size, dtype=object)
        for i, v in enumerate(values):
            out[i] = decode(v, depth + 1)
        return out.reshape(shape)
    try:
        dt = np.dtype(str(dtype))
    except TypeError:
        raise PlainDataError(f"unknown dtype {dtype!r}") from None
    if dt.kind not in NUMERIC_KINDS or dt.hasobject:
        raise PlainDataError(f"dtype {dtype!r} is not plain numeric data")
    raw = base64.b64decode(str(obj.get("b64", "")), validate=True)
    if len(raw) != size * dt.itemsize:
        raise PlainDataError("array bytes do not match its shape")
    return np.frombuffer(raw, dtype=dt).reshape(shape).copy()


def decode(obj: Any, depth: int = 0) -> Any:
    """Rebuild a value from ``encode``'s JSON; PlainDataError for anything else."""
    if depth > MAX_DEPTH:
        raise PlainDataError("nested too deeply")
    if obj is None or type(obj) in (bool, int, float, str):
        return obj
    if type(obj) is list:  # plain JSON lists are not produced by encode; accept them as lists
        return [decode(x, depth + 1) for x in obj]
    if type(obj) is not dict:
        raise PlainDataError(f"unexpected JSON value of type {type(obj).__name__}")
    tag = obj.get("$")
    if tag == "float":
        value = obj.get("v")
        if value not in ("nan", "inf", "-inf"):
            raise PlainDataError("bad float")
        return float(value)
    if tag == "complex":
        return complex(float(decode(obj.get("re"), depth + 1)), float(decode(obj.get("im"), depth + 1)))
    if tag == "bytes":
        return base64.b64decode(str(obj.get("b64", "")), validate=True)[:MAX_BYTES]
    if tag in ("list", "tuple", "set", "frozenset"):
        values = obj.get("v")
        if type(values) is not list or len(values) > MAX_ITEMS:
            raise PlainDataError(f"bad {tag}")
        items = [decode(x, depth + 1) for x in values]
        return {"list": list, "tuple": tuple, "set": set, "frozenset": frozenset}[tag](items)
    if tag == "dict":
        keys, values = obj.get("k"), obj.get("v")
        if type(keys) is not list or type(values) is not list or len(keys) != len(values):
            raise PlainDataError("bad dict")
        return {decode(k, depth + 1): decode(v, depth + 1) for k, v in zip(keys, values)}
    if tag == "ndarray":
        return _decode_array(obj, depth)
    if tag == "tensor":
        import torch

        return torch.from_numpy(_decode_array(obj, depth))
    if tag in ("series", "index", "frame"):
        import pandas as pd

        if tag == "index":
            return pd.Index(_decode_array(obj.get("values") or {}, depth), dtype=_dtype(obj), name=decode(obj.get("name"), depth + 1))
        if tag == "series":
            return pd.Series(_decode_array(obj.get("values") or {}, depth), index=decode(obj.get("index"), depth + 1),
                             dtype=_dtype(obj), name=decode(obj.get("name"), depth + 1))
        columns = decode(obj.get("columns"), depth + 1)
        index = decode(obj.get("index"), depth + 1)
        data = obj.get("data")
        if type(data) is not list or not isinstance(columns, pd.Index) or len(data) != len(columns):
            raise PlainDataError("bad frame")
        series = [decode(s, depth + 1) for s in data]
        frame = pd.concat([s.reset_index(drop=True) for s in series], axis=1) if series else pd.DataFrame(index=index)
        frame.columns = columns
        frame.index = index
        return frame
    if tag == "opaque":
        return Opaque(obj.get("type", "object"))
    raise PlainDataError(f"unknown tag {tag!r}")


def _dtype(obj: dict):
    """The pandas dtype named in ``obj`` when it is a plain one (else let pandas infer)."""
    name = str(obj.get("dtype", ""))
    plain = name in ("object", "bool", "category", "string") or name.startswith(("int", "uint", "float", "complex"))
    return None if not plain or name in ("category", "string") else name
