"""The Hugging Face ``transformers`` EfficientLoFTR key naming, mapped to the released layout.

``transformers`` renames the original EfficientLoFTR/MatchAnything tensors (its
``convert_efficientloftr_to_hf.py`` holds the forward mapping). The correspondence, read from that
script (``T`` = transformer block, release layer ``2T`` is its self-, ``2T+1`` its cross-attention):

    backbone.stages.0.blocks.0.{conv1,conv2}.{conv,norm}  <- backbone.layer0.{rbr_dense,rbr_1x1}.{conv,bn}
    backbone.stages.S.blocks.B.{conv1,conv2}.{conv,norm}  <- backbone.layerS.B.{rbr_dense,rbr_1x1}.{conv,bn}
    backbone.stages.S.blocks.B.identity                   <- backbone.layerS.B.rbr_identity
    local_feature_transformer.layers.T.{self,cross}_attention.
        aggregation.q_aggregation / aggregation.norm      <- loftr_coarse.layers.L.aggregate / norm1
        attention.{q,k,v}_proj / attention.o_proj         <- loftr_coarse.layers.L.{q,k,v}_proj / merge
        mlp.fc1 / mlp.fc2 / mlp.layer_norm                <- loftr_coarse.layers.L.mlp.0 / mlp.2 / norm2
    refinement_layer.out_conv                             <- fine_preprocess.layer3_outconv
    refinement_layer.out_conv_layers.{0,1}.out_conv1      <- fine_preprocess.layer{2,1}_outconv
    refinement_layer.out_conv_layers.{0,1}.{out_conv2,batch_norm,out_conv3}
                                                          <- fine_preprocess.layer{2,1}_outconv2.{0,1,3}

Backbone and transformer keys may carry a model prefix (``model.`` in the conversion script,
``efficientloftr.`` in later ``transformers`` releases); both, or none, are accepted.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import torch

RELEASE_PREFIX = "matcher."
_MODEL_PREFIX = r"(?:model\.|efficientloftr\.)?"
_BRANCH = {"conv1.conv": "rbr_dense.conv", "conv1.norm": "rbr_dense.bn", "conv2.conv": "rbr_1x1.conv"}
_BRANCH |= {"conv2.norm": "rbr_1x1.bn", "identity": "rbr_identity"}
_ATTN = {"aggregation.q_aggregation": "aggregate", "aggregation.norm": "norm1", "attention.q_proj": "q_proj"}
_ATTN |= {"attention.k_proj": "k_proj", "attention.v_proj": "v_proj", "attention.o_proj": "merge"}
_ATTN |= {"mlp.fc1": "mlp.0", "mlp.fc2": "mlp.2", "mlp.layer_norm": "norm2"}
_OUTCONV = {"out_conv1": "", "out_conv2": "2.0", "batch_norm": "2.1", "out_conv3": "2.3"}
_FPN_LEVEL = {"0": "2", "1": "1"}


def _backbone(m: re.Match[str]) -> str:
    stage, block, branch, leaf = m.group("stage", "block", "branch", "leaf")
    where = "layer0" if stage == "0" else f"layer{stage}.{block}"
    return f"backbone.{where}.{_BRANCH[branch]}.{leaf}"


def _transformer(m: re.Match[str]) -> str:
    layer = 2 * int(m.group("block")) + (m.group("kind") == "cross")
    return f"loftr_coarse.layers.{layer}.{_ATTN[m.group('part')]}.{m.group('leaf')}"


def _fpn_out(m: re.Match[str]) -> str:
    level, part = _FPN_LEVEL[m.group("level")], _OUTCONV[m.group("part")]
    suffix = f"_outconv{part}" if part else "_outconv"
    return f"fine_preprocess.layer{level}{suffix}.{m.group('leaf')}"


_RULES: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
    (
        re.compile(
            _MODEL_PREFIX + r"backbone\.stages\.(?P<stage>\d+)\.blocks\.(?P<block>\d+)\."
            r"(?P<branch>conv[12]\.conv|conv[12]\.norm|identity)\.(?P<leaf>\w+)"
        ),
        _backbone,
    ),
    (
        re.compile(
            _MODEL_PREFIX + r"local_feature_transformer\.layers\.(?P<block>\d+)\.(?P<kind>self|cross)_attention\."
            r"(?P<part>aggregation\.\w+|attention\.\w+|mlp\.\w+)\.(?P<leaf>\w+)"
        ),
        _transformer,
    ),
    (
        re.compile(_MODEL_PREFIX + r"refinement_layer\.out_conv\.(?P<leaf>\w+)"),
        lambda m: f"fine_preprocess.layer3_outconv.{m.group('leaf')}",
    ),
    (
        re.compile(
            _MODEL_PREFIX + r"refinement_layer\.out_conv_layers\.(?P<level>[01])\."
            r"(?P<part>out_conv[123]|batch_norm)\.(?P<leaf>\w+)"
        ),
        _fpn_out,
    ),
)


def release_key(hf_key: str) -> str | None:
    """The released key (with ``matcher.``) for a ``transformers`` key, or None if it has no counterpart."""
    for pattern, rename in _RULES:
        m = pattern.fullmatch(hf_key)
        if m is None:
            continue
        try:
            return RELEASE_PREFIX + rename(m)
        except KeyError:
            return None
    return None


def looks_like_hf_layout(state: dict[str, torch.Tensor]) -> bool:
    """True when ``state`` uses the ``transformers`` naming (``backbone.stages`` / ``local_feature_transformer``)."""
    return any("backbone.stages." in k or "local_feature_transformer." in k for k in state)


def to_release_layout(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Rename a ``transformers`` state dict to released keys.

    Returns:
        ``(renamed, unmapped)``: tensors under their released keys, and the input keys that have no
        released counterpart (a strict loader must reject a file with any).
    """
    renamed: dict[str, torch.Tensor] = {}
    unmapped: list[str] = []
    for key, value in state.items():
        target = release_key(key)
        if target is None:
            unmapped.append(key)
        else:
            renamed[target] = value
    return renamed, unmapped
