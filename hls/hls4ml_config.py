"""The hls4ml configuration (granularity ``name``) built from the export options and the per-layer overrides.

Data flow: the hls-side model (:func:`hls.hls4ml_handlers.to_hls_module`) -> hls4ml's
``config_from_pytorch_model`` -> model-wide strategy and reuse factor -> every Linear/Conv's strategy and reuse
factor from the options, then the overrides (:mod:`hls.layer_overrides`) of single layers on top.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from csq_hw.errors import UserError

from .config import ExportOptions

__all__ = ["hls4ml_config", "layer_settings"]


def layer_settings(
    options: ExportOptions, mac_layers: list[str], resolved: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """``{hls4ml layer: {"ReuseFactor": int, "Strategy": str}}`` for every Linear/Conv: options, then overrides.

    Args:
        options: the export's options (model-wide strategy and reuse factor).
        mac_layers: hls4ml names of the Linear/Conv layers.
        resolved: overrides keyed by hls4ml layer name (:func:`hls.layer_overrides.resolve_overrides`).
    """
    out: dict[str, dict[str, Any]] = {}
    for name in mac_layers:
        s = {"ReuseFactor": options.reuse_factor, "Strategy": options.strategy, **resolved.get(name, {})}
        if s["Strategy"] == "distributed_arithmetic" and s["ReuseFactor"] != 1:
            raise UserError(f"layer {name!r}: strategy distributed_arithmetic needs reuse factor 1, not "
                            f"{s['ReuseFactor']}; change the layer's override")  # fmt: skip
        out[name] = s
    return out


def hls4ml_config(
    hls_module: Any, input_shape: tuple[int, ...], options: ExportOptions, settings: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """The hls4ml configuration for the hls-side model.

    Args:
        hls_module: the model from :func:`hls.hls4ml_handlers.to_hls_module`.
        input_shape: one sample's shape, without batch.
        options: the user's choices.
        settings: per Linear/Conv hls4ml layer name, its ``ReuseFactor`` and ``Strategy`` (:func:`layer_settings`).
    """
    from .hls4ml_handlers import hls4ml

    cfg = hls4ml.utils.config_from_pytorch_model(
        hls_module,
        input_shape=tuple(input_shape),
        granularity="name",
        backend=options.backend,
        default_precision="fixed<16,6>",  # unused: BitExact derives every type from the quantizers
        default_reuse_factor=1,
        channels_last_conversion=options.channels_last,
        transpose_outputs=False,
    )
    cfg["Model"]["Strategy"] = options.strategy
    cfg["Model"]["ReuseFactor"] = options.reuse_factor
    layers = cfg["LayerName"]
    missing = [n for n in settings if n not in layers]
    if missing:
        raise UserError(f"hls4ml config has no layers {missing}; known: {', '.join(layers)}")
    for name, values in settings.items():
        layers[name].update(values)
    return cfg
