"""One tensor of an engine's I/O contract: name, shape, dtype and meaning (standard library only)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ma_trt_ros.contract.errors import SidecarError

DTYPES = ("float32", "float16", "int32", "int64", "bool", "uint8", "int8")
DYNAMIC = -1


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of the engine.

    Attributes:
        name: tensor name in the ONNX graph and in the engine (``set_tensor_address`` uses it).
        shape: shape, batch first; :data:`DYNAMIC` (-1) marks an axis the graph leaves open (the input
            height and width of a dynamic-size graph, whose range the ONNX metadata / the engine's
            optimisation profile gives).
        dtype: element type as a numpy name (``"float32"``, ``"float16"``, ``"int32"``, ``"bool"``...).
        description: layout, value range, units and coordinate convention, in words.
    """

    name: str
    shape: tuple[int, ...]
    dtype: str
    description: str = ""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TensorSpec:
        require_keys(data, {"name": str, "shape": list, "dtype": str}, "tensor")
        if not all(isinstance(d, int) and (d > 0 or d == DYNAMIC) for d in data["shape"]):
            raise SidecarError(
                f"tensor {data['name']!r}: shape must be positive integers or {DYNAMIC} (dynamic), got {data['shape']}"
            )
        if data["dtype"] not in DTYPES:
            raise SidecarError(f"tensor {data['name']!r}: dtype {data['dtype']!r} is not one of {', '.join(DTYPES)}")
        return cls(data["name"], tuple(data["shape"]), data["dtype"], str(data.get("description", "")))

    @property
    def is_dynamic(self) -> bool:
        """Whether some axis is left open (:data:`DYNAMIC`)."""
        return DYNAMIC in self.shape

    def with_shape(self, shape: tuple[int, ...]) -> TensorSpec:
        """This tensor at a concrete ``shape`` (same rank; fixed axes must agree).

        Raises:
            ValueError: another rank, or a fixed axis that differs.
        """
        if len(shape) != len(self.shape) or any(d not in (DYNAMIC, s) for d, s in zip(self.shape, shape, strict=True)):
            raise ValueError(f"tensor {self.name}: shape {list(shape)} does not fit {list(self.shape)}")
        return TensorSpec(self.name, tuple(shape), self.dtype, self.description)

    def at_size(self, height: int, width: int) -> TensorSpec:
        """An NCHW image input with its open height and width (axes 2, 3) set; a fixed tensor as it is."""
        return self.with_shape((*self.shape[:2], height, width)) if self.is_dynamic else self

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype, "description": self.description}


def require_keys(data: dict[str, Any], types: dict[str, type], where: str) -> None:
    """Raise :class:`SidecarError` naming ``where`` when a key of ``types`` is missing or of another type."""
    for key, kind in types.items():
        if key not in data:
            raise SidecarError(f"{where}: missing key {key!r}")
        value = data[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise SidecarError(f"{where}: {key!r} must be {kind.__name__}, got {type(value).__name__}")


def format_io_contract(inputs: tuple[TensorSpec, ...], outputs: tuple[TensorSpec, ...]) -> str:
    """Human-readable table of the contract, one tensor per line."""
    lines = []
    for title, specs in (("inputs", inputs), ("outputs", outputs)):
        lines.append(f"{title}:")
        for spec in specs:
            shape = "x".join(str(d) for d in spec.shape)
            line = f"  {spec.name:<22} {spec.dtype:<8} [{shape}]"
            lines.append(f"{line}  {spec.description}" if spec.description else line)
    return "\n".join(lines)
