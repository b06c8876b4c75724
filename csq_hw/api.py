"""The Python API for your own model and data: ``fit`` (done for you), ``finalize``, ``save_run``, ``load_run``.

Example (a user MLP on user tensors, to a run directory that ``csq-hw cost --run`` and ``csq-hw export`` take)::

    import torch, csq_hw
    from torch import nn
    net = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 5))
    train = torch.utils.data.TensorDataset(x_train, y_train)          # or any map-style Dataset / DataLoader
    run = csq_hw.fit(net, train, (x_test, y_test), budget="lut=3000", epochs=30, out="runs/mine")
    run.exact(x)                                                       # what the firmware computes
    run = csq_hw.load_run("runs/mine")                                 # later, in another process

For your own training loop see :func:`csq_hw.prepare` (:mod:`csq_hw.train.csq_model`). docs/api.md has the full guide.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from csq_hw.errors import UserError
from csq_hw.handoff.precision_types import Precisions
from csq_hw.handoff.precisions import layer_bits, read_precisions
from csq_hw.handoff.run_summary import read_summary
from csq_hw.quant.exact import build_exact_model, load_exact_blob
from csq_hw.train.config import TrainConfig, config_options
from csq_hw.train.run_inputs import inputs_from_module
from csq_hw.train.train_run import pick_device, train_run
from csq_hw.train.trainer import LossFn

__all__ = ["fit", "load_run", "LoadedRun"]

_SETTINGS = {o.flat for o in config_options()} - {"model", "model_kwargs", "dataset", "data_dir", "budget"}


@dataclass
class LoadedRun:
    """A finished run directory: ``precisions`` (the ``precisions.json`` dict), ``exact`` (the exact model, eval
    mode, float64: the firmware's arithmetic), ``summary`` (``summary.json``) and where it lives."""

    run_dir: Path
    precisions: dict[str, Any]
    exact: nn.Module
    summary: dict[str, Any]

    def layer_bits(self) -> dict[str, Any]:
        """``{layer: cost_models.LayerBits}`` at the final precisions with the integer weights: price the run with
        any cost model (``cost_models.cost_table(geometry, run.layer_bits(), names)``)."""
        state = self.exact.state_dict()
        layers = Precisions.of(self.precisions).layers
        ints = {la.name: torch.round(state[f"{la.name}.layer.weight"].double() / la.weight.step) for la in layers}
        return layer_bits(self.precisions, ints)

    @property
    def test_acc(self) -> float | None:
        """The exact model's test accuracy (None for a run trained with another loss: see ``summary['test_loss']``)."""
        return self.summary.get("test_acc")


def load_run(run_dir: str | Path) -> LoadedRun:
    """Load a finished run directory (zoo, spec or user model) with its exact model; one-line errors otherwise."""
    run_dir = Path(run_dir)
    summary = read_summary(run_dir)
    precisions = read_precisions(run_dir)
    exact = build_exact_model(precisions, run_dir)
    state = load_exact_blob(run_dir / "exact_model.pt")["state_dict"]
    try:
        exact.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise UserError(f"{run_dir}/exact_model.pt does not fit its precisions.json ({first})") from None
    return LoadedRun(run_dir, precisions, exact.double().eval(), summary)


def _n_outputs(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    with torch.no_grad():
        was = model.training
        model.eval()
        out = model(torch.zeros(1, *input_shape))
        model.train(was)
    return int(out[0].numel())


def _shape_of(data: Any) -> tuple[int, ...]:
    """One sample's shape from a DataLoader / Dataset / ``(x, y)`` pair."""
    if isinstance(data, tuple) and len(data) == 2 and isinstance(data[0], torch.Tensor):
        return tuple(data[0].shape[1:])
    if isinstance(data, torch.utils.data.DataLoader):
        data = data.dataset
    try:
        return tuple(torch.as_tensor(data[0][0]).shape)
    except Exception as exc:  # noqa: BLE001 - anything odd: ask for the shape
        raise UserError(f"cannot read one sample's shape from the training data ({type(exc).__name__}); pass "
                        "input_shape=(...)") from None  # fmt: skip


def fit(
    model: nn.Module,
    train_data: Any,
    test_data: Any,
    *,
    budget: str,
    out: str | Path,
    epochs: int = 30,
    loss_fn: LossFn | None = None,
    input_shape: tuple[int, ...] | None = None,
    resume: bool = False,
    progress: bool = True,
    name: str | None = None,
    **settings: Any,
) -> LoadedRun:
    """Train your float ``model`` with CSQ under ``budget`` into the run directory ``out``; return the loaded run.

    The same training as ``csq-hw train`` (search, hand-over, fine-tune, budget repair, checkpoints every epoch,
    ``resume=True`` after a kill, the run-directory lock), starting from ``model``'s own weights.

    Args:
        model: a float ``nn.Module`` of supported layers (:data:`csq_hw.quant.supported.SUPPORTED`), ending on its
            output.
        train_data, test_data: DataLoaders over map-style data sets, Datasets, or ``(x, y)`` tensor pairs. The
            trainer draws its own seeded batches of ``batch_size`` (a DataLoader's batch size when not given).
        budget: ``KIND=VALUE`` (``lut=20000``, ``bops=2e5``, ``size=u4``; ``csq-hw cost --help`` lists the kinds).
        out: the run directory (precisions.json, exact_model.pt, architecture.json, summary.json, checkpoints).
        loss_fn: ``loss_fn(output, target) -> scalar``; default cross-entropy on integer labels (accuracy is then
            reported); e.g. ``torch.nn.functional.mse_loss`` for regression or an autoencoder.
        input_shape: one sample's shape (default: read from the first training sample).
        name: the model's name in the run (default: its class name).
        settings: any :class:`~csq_hw.train.config.TrainConfig` field (``max_bits``, ``act_bits``, ``lr``, ``seed``,
            ``ticket_epoch``, ``finetune``, ``pretrain_epochs``, ``device``, ...).

    Returns:
        :class:`LoadedRun` (``.exact``, ``.precisions``, ``.summary``, ``.test_acc``).
    """
    unknown = sorted(set(settings) - _SETTINGS)
    if unknown:
        raise UserError(f"fit: unknown setting(s) {', '.join(unknown)}; use TrainConfig fields: "
                        f"{', '.join(sorted(_SETTINGS))}")  # fmt: skip
    if not isinstance(model, nn.Module):
        raise UserError(f"fit: model is a {type(model).__name__}, not a torch nn.Module")
    if "batch_size" not in settings and isinstance(train_data, torch.utils.data.DataLoader) and train_data.batch_size:
        settings["batch_size"] = int(train_data.batch_size)
    shape = tuple(input_shape) if input_shape is not None else _shape_of(train_data)
    label = name or f"user:{type(model).__name__}"
    cfg = TrainConfig.from_flat(model=label, dataset="user", budget=budget, epochs=epochs, **settings)
    device = pick_device(cfg.train.device)
    inputs = inputs_from_module(model, shape, _n_outputs(model, shape), train_data, test_data, device, loss_fn)
    train_run(cfg, out, resume=resume, progress=progress, inputs=inputs)
    return load_run(out)
