"""The ``--model``, ``--dataset`` and ``--data-dir`` flags shared by ``csq-hw train`` and ``csq-hw sweep``, with the
choices listed from the registries."""

from __future__ import annotations

import argparse


def add_model_data_arguments(p: argparse.ArgumentParser) -> None:
    from ..data import DATASETS
    from ..models import MODELS

    p.add_argument("--model", help=" | ".join(MODELS))
    p.add_argument("--dataset", help=" | ".join(DATASETS))
    p.add_argument(
        "--data-dir", dest="data_dir", help="directory with local data (jets file, CIFAR-10 batches, ImageNet folder)"
    )
