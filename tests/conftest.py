"""Shared fixtures: pinned seeds, small thread count, an isolated data cache."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _seeds():
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    yield


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("CSQ_HW_CACHE", str(tmp_path_factory.getbasetemp() / "csq-cache"))
    yield


torch.set_num_threads(2)
