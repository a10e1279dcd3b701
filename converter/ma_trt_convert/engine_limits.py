"""What every TensorRT version we target can take: the limits that export, the variants' options and
engine building all respect (a leaf module: it imports nothing of the project).

The operator tables list the ONNX operators each TensorRT ONNX parser marks **N** (not supported),
from ``docs/operators.md`` of onnx/onnx-tensorrt: the TensorRT 8.5 release (opset <= 17) and the
10.x line (the 10.15 list: every N there was already N in 10.0, so it holds for 10.3 on JetPack 6
and 10.13 on JetPack 7). TensorRT 11 and TensorRT-RTX are not tabulated (``check`` parses with the
real parser for them).
"""

from __future__ import annotations

# TensorRT's TopK takes K < 3840 (every version we target); the ELoFTR match budget must stay below it.
TOPK_LIMIT = 3840
# Opsets `export` writes: GridSample needs 16; TensorRT 8.5 parses up to 17 (the default); TensorRT
# 10.13 computes GridSample wrongly at 20 (right at <= 18).
DEFAULT_OPSET = 17
SUPPORTED_OPSETS = (16, 17, 18, 19, 20)

_SEQUENCE_OPS = frozenset(
    {
        "SequenceAt",
        "SequenceConstruct",
        "SequenceEmpty",
        "SequenceErase",
        "SequenceInsert",
        "SequenceLength",
        "SequenceMap",
        "SplitToSequence",
        "ConcatFromSequence",
    }
)
_COMMON_UNSUPPORTED = _SEQUENCE_OPS | frozenset(
    {
        "Bernoulli",
        "BitShift",
        "Compress",
        "ConvInteger",
        "DFT",
        "Det",
        "DynamicQuantizeLinear",
        "MatMulInteger",
        "MaxRoiPool",
        "MaxUnpool",
        "MelWeightMatrix",
        "Multinomial",
        "NegativeLogLikelihoodLoss",
        "Optional",
        "OptionalGetElement",
        "OptionalHasElement",
        "QLinearConv",
        "QLinearMatMul",
        "SoftmaxCrossEntropyLoss",
        "StringNormalizer",
        "TfIdfVectorizer",
        "Unique",
    }
)

UNSUPPORTED_OPS: dict[str, frozenset[str]] = {
    "8.5": _COMMON_UNSUPPORTED
    | frozenset(
        {
            "BlackmanWindow",
            "HammingWindow",
            "HannWindow",
            "Hardmax",
            "IsInf",
            "LayerNormalization",
            "STFT",
            "CastLike",
            "GroupNormalization",
        }
    ),
    "10": _COMMON_UNSUPPORTED
    | frozenset(
        {
            "AffineGrid",
            "BitwiseAnd",
            "BitwiseNot",
            "BitwiseOr",
            "BitwiseXor",
            "CenterCropPad",
            "Col2Im",
            "ImageDecoder",
            "RegexFullMatch",
            "StringConcat",
            "StringSplit",
        }
    ),
}
MAX_OPSET: dict[str, int] = {"8.5": 17, "10": 20}
