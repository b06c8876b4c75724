"""The ray sweep backend on a local Ray instance (skipped where Ray is not installed): same table as local."""

from __future__ import annotations

import json

import pytest
import torch

from csq_hw import TrainConfig
from csq_hw.errors import UserError
from csq_hw.sweep import run_sweep
from csq_hw.sweep.ray_backend import _write_back, make_ray_backend

ray = pytest.importorskip("ray")

BASE = TrainConfig.from_flat(model="digits-mlp", dataset="digits", epochs=3, seed=2, device="cpu")
BUDGETS = ["size=u3", "size=u5"]


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_sweep_gives_the_local_table(local_ray, tmp_path):
    df_ray = run_sweep(BASE, BUDGETS, tmp_path / "ray", workers=2, baseline_bits=[4], backend="ray", progress=False)
    # each Ray task trains with num_cpus = 1 torch thread; the local run must use the same thread count for its
    # float sums to be taken in the same order (same kernels, same threads: defined to agree bit for bit)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        df_loc = run_sweep(BASE, BUDGETS, tmp_path / "loc", workers=1, baseline_bits=[4], progress=False)
    finally:
        torch.set_num_threads(threads)
    assert list(df_ray.columns) == list(df_loc.columns)
    key = ["method", "budget_spec"]
    a, b = df_ray.sort_values(key).reset_index(drop=True), df_loc.sort_values(key).reset_index(drop=True)
    assert len(a) == 3 and list(a.method) == list(b.method)
    for col in ("test_acc", "final_cost", "avg_weight_bits"):
        assert list(a[col]) == list(b[col]), col  # deterministic runs: the same numbers on Ray
    # a second call finds every point finished and starts no task
    again = run_sweep(BASE, BUDGETS, tmp_path / "ray", workers=2, baseline_bits=[4], backend="ray", progress=False)
    assert len(again) == 3


def test_ray_resources_beyond_the_cluster_are_refused(local_ray, tmp_path):
    with pytest.raises(UserError, match="GPU"):
        run_sweep(BASE, BUDGETS[:1], tmp_path, backend=make_ray_backend(num_gpus=1), progress=False)


def test_returned_files_are_written_where_missing(tmp_path):
    from csq_hw.sweep import PointSpec

    point = PointSpec("csq", "size=u3", BASE, str(tmp_path / "p"))
    _write_back(point, {"summary.json": b'{"test_acc": 1.0}', "metrics.csv": b"epoch\n0\n"})
    assert json.loads((tmp_path / "p" / "summary.json").read_text()) == {"test_acc": 1.0}
    _write_back(point, {"summary.json": b"{}"})  # present already (shared file system): left alone
    assert json.loads((tmp_path / "p" / "summary.json").read_text()) == {"test_acc": 1.0}
