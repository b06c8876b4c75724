"""The ``--model``, ``--dataset`` and ``--data-dir`` flags shared by ``csq-hw train`` and ``csq-hw sweep``, with the
choices listed from the registries."""

from __future__ import annotations

import argparse


def add_model_data_arguments(p: argparse.ArgumentParser) -> None:
    from csq_hw.data import DATASETS
    from csq_hw.zoo.models import MODELS

    p.add_argument(
        "--model",
        help=" | ".join(MODELS) + " | mlp:H1,H2 | cnn1d:C1,C2 | cnn2d:C1,C2 (sized by the data) "
        "| PATH.py:FUNC | package.module:FUNC (FUNC(input_shape, n_classes) -> nn.Module); docs/api.md",
    )
    p.add_argument("--dataset", help=" | ".join(DATASETS))
    p.add_argument(
        "--data-dir", dest="data_dir", help="directory with local data (jets file, CIFAR-10 batches, ImageNet folder)"
    )
