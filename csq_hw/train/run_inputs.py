"""What a run trains on: a float model factory, the two data sources, the loss, however the user named them.

``csq-hw train`` names them in a :class:`~csq_hw.train.config.TrainConfig` (a zoo model or a spec, a data set name):
:func:`inputs_from_config` loads the data, sizes a spec model from it and checks everything before any training.
:func:`csq_hw.fit` hands over a user ``nn.Module`` and DataLoaders instead (:func:`inputs_from_module`). Both end
in :class:`TrainInputs`, which the one training loop (:func:`csq_hw.train.train_run.train_run`) consumes.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from csq_hw.data import ImageFolderDataset, load_dataset
from csq_hw.data.source import SampleSource, as_sample_source
from csq_hw.errors import CsqWarning, UserError
from csq_hw.quant.supported import check_supported
from csq_hw.train.config import TrainConfig
from csq_hw.train.trainer import LossFn, fixed_batch
from csq_hw.zoo.model_specs import absolute_spec, is_spec, parse_spec, spec_shape
from csq_hw.zoo.models import build_model, input_shape_for, model_info, n_classes_for

__all__ = ["TrainInputs", "inputs_from_config", "inputs_from_module", "as_sample_source"]


@dataclass
class TrainInputs:
    """The resolved inputs of one run.

    Attributes:
        float_model: builds a fresh float model (called after seeding, so a seed gives the same weights).
        input_shape: one sample's shape, e.g. (64,) or (1, 49, 10).
        n_outputs: the model's outputs (classes, or regression targets).
        train_src, test_src: the training and test samples (:class:`~csq_hw.data.SampleSource`).
        loss_fn: the task loss; None is cross-entropy on integer labels (accuracy is then the metric).
        streamed: the data streams from disk (ImageNet style): the hand-over's fixed batch is smaller.
        save_architecture: record a traced float skeleton in the run (models that the zoo cannot rebuild).
        save_test_data: write the test split as ``test_data.npz`` (data no data set name can reload), for export.
        warnings: what loading the data warned about (also listed in summary.json).
        dataset: the data set's name for the summary.
    """

    float_model: Callable[[], nn.Module]
    input_shape: tuple[int, ...]
    n_outputs: int
    train_src: SampleSource
    test_src: SampleSource
    loss_fn: LossFn | None = None
    streamed: bool = False
    save_architecture: bool = False
    save_test_data: bool = False
    warnings: list[str] = field(default_factory=list)
    dataset: str = ""

    def fixed_batch(self, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The run's fixed batch of training samples (:func:`~csq_hw.train.trainer.fixed_batch`): what the budget
        repair ranks bits on and the guard scores on. 1,024 samples; 256 for streamed images (1,024 at 224 x 224
        would take 600 MB)."""
        return fixed_batch(self.train_src, seed=seed, n=256 if self.streamed else 1024)


def _sized(cfg: TrainConfig, sample_shape: tuple[int, ...], n_classes: int) -> TrainConfig:
    """A spec model sized by the data: ``model_kwargs`` gains ``input_shape`` and ``n_classes`` (kept when given),
    a builder file's path becomes absolute. Zoo models are returned unchanged."""
    if not is_spec(cfg.model.name):
        return cfg
    kind, _ = parse_spec(cfg.model.name)
    kwargs = dict(cfg.model.kwargs)
    if kind in ("mlp", "cnn1d", "cnn2d"):
        kwargs.setdefault("input_shape", list(spec_shape(kind, sample_shape)))
    else:
        kwargs.setdefault("input_shape", list(sample_shape))
    kwargs.setdefault("n_classes", int(n_classes))
    return cfg.replace(model=absolute_spec(cfg.model.name), model_kwargs=kwargs)


def inputs_from_config(cfg: TrainConfig, device: torch.device) -> tuple[TrainConfig, TrainInputs]:
    """Load ``cfg``'s data set, size a spec model from it, check the model's layers; return the resolved config
    (what config.toml and the checkpoint record) and the inputs. Budget kind and model name are checked before the
    data loads, the layers and the class count before any warm start."""
    model_info(cfg.model.name)  # an unknown name or a malformed spec: before the data loads
    if is_spec(cfg.model.name):
        absolute_spec(cfg.model.name)  # a missing builder file, too
    cfg.budget.parsed.check_kinds()  # every constraint's cost kind exists (values are checked against the model later)
    with warnings.catch_warnings(record=True) as caught:  # shown now, and listed in summary.json
        warnings.simplefilter("always", CsqWarning)
        data = load_dataset(cfg.data.dataset, data_dir=cfg.data.data_dir)
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    cfg = _sized(cfg, data.sample_shape, data.n_classes)
    shape = input_shape_for(cfg.model.name, cfg.model.kwargs)
    data = data.reshaped(shape)
    n_classes = n_classes_for(cfg.model.name, cfg.model.kwargs)
    if data.n_classes > n_classes:
        raise UserError(
            f"data set {cfg.data.dataset} has {data.n_classes} classes but model {cfg.model.name} predicts "
            f"{n_classes}; "
            "pick a matching model (or model_kwargs n_classes where the model takes it)"
        )
    check_supported(build_model(cfg.model.name, **cfg.model.kwargs), f"model {cfg.model.name}")
    kind = parse_spec(cfg.model.name)[0] if is_spec(cfg.model.name) else "zoo"
    inputs = TrainInputs(
        float_model=lambda: build_model(cfg.model.name, **cfg.model.kwargs),
        input_shape=shape,
        n_outputs=n_classes,
        train_src=data.train_source(device, seed=cfg.train.seed),
        test_src=data.test_source(device),
        streamed=isinstance(data, ImageFolderDataset),
        save_architecture=kind in ("file", "module"),
        warnings=[str(w.message) for w in caught if issubclass(w.category, CsqWarning)],
        dataset=cfg.data.dataset,
    )
    return cfg, inputs


def inputs_from_module(
    model: nn.Module,
    input_shape: tuple[int, ...],
    n_outputs: int,
    train_data: object,
    test_data: object,
    device: torch.device,
    loss_fn: LossFn | None = None,
    dataset: str = "user",
) -> TrainInputs:
    """Inputs for a user's float ``model`` (its own weights are the starting point) and data."""
    check_supported(model, f"model {type(model).__name__}")
    skeleton = copy.deepcopy(model).cpu()
    return TrainInputs(
        float_model=lambda: copy.deepcopy(skeleton),
        input_shape=tuple(int(d) for d in input_shape),
        n_outputs=int(n_outputs),
        train_src=as_sample_source(train_data, device, "train_data"),
        test_src=as_sample_source(test_data, device, "test_data"),
        loss_fn=loss_fn,
        save_architecture=True,
        save_test_data=True,
        dataset=dataset,
    )
