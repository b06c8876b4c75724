"""Run the task suite: csq-hw's default CSQ vs the plain QAT baseline at equal cost, per task x budget x seed.

    python benchmarks/suite/run_suite.py --out runs/suite [--tasks a,b] [--seeds 0,1,2] [--epochs N]
        [--workers 2] [--data-dir D] [--float]

Per run: CSQ = ``csq-hw train --model SPEC --dataset npz:PATH --budget bops=uN --act-bits search --seed S`` (every
other setting csq-hw's default; ``--epochs`` only when given here); QAT = the same with ``--qat --max-bits N
--act-bits N`` (uniform N-bit weights and activations: the budget's cost exactly). mse tasks go through the CLI
with ``--loss mse`` when ``csq-hw train --help`` lists ``--loss``, else through ``csq_hw.fit`` in a subprocess
(:mod:`fit_task`); :data:`MSE_MODE` switches it. Run directories: ``OUT/runs/TASK/BUDGET/METHOD-sSEED``; one with a
``summary.json`` is skipped, one with a checkpoint is resumed. Logs: ``OUT/logs``. Results: :mod:`suite_report`.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from suite_report import collect_run, write_reports  # noqa: E402
from tasks import TASKS, Task, dataset_path  # noqa: E402

MSE_MODE = "auto"  # "auto": the CLI if `csq-hw train --help` lists --loss, else the API; or force "cli" / "api"
CSQ_HW = os.environ.get("CSQ_HW", "csq-hw")


@dataclass(frozen=True)
class Run:
    """One training: ``method`` is "csq" or "qat"; ``bits`` the N of ``budget`` = ``bops=uN``."""

    task: Task
    budget: str
    bits: int
    seed: int
    method: str
    npz: Path
    out: Path

    @property
    def tag(self) -> str:
        return f"{self.task.name}_{self.budget.replace('=', '-')}_{self.method}-s{self.seed}"


@functools.cache
def cli_has_loss() -> bool:
    """Whether ``csq-hw train --help`` lists a ``--loss`` option."""
    res = subprocess.run([CSQ_HW, "train", "--help"], capture_output=True, text=True, check=False)
    return "--loss" in res.stdout


def mse_via_cli() -> bool:
    """True: mse tasks run through ``csq-hw train --loss mse``; False: through ``csq_hw.fit`` (fit_task.py)."""
    return cli_has_loss() if MSE_MODE == "auto" else MSE_MODE == "cli"


def command(run: Run, epochs: int | None, resume: bool, settings: tuple[str, ...] = ()) -> list[str]:
    """The subprocess command line of ``run``; ``settings``: ``KEY=VALUE`` options for both methods (ablations:
    ``pretrain_epochs=0``, ``act_range=learned``; flags on the CLI, ``fit`` keywords through the API)."""
    if run.method == "csq":
        quant = ["--act-bits", "search"]
    else:
        quant = ["--qat", "--max-bits", str(run.bits), "--act-bits", str(run.bits)]
    extra = (["--epochs", str(epochs)] if epochs is not None else []) + (["--resume"] if resume else [])
    common = ["--budget", run.budget, *quant, "--seed", str(run.seed), "--out", str(run.out), *extra]
    if run.task.loss == "mse" and not mse_via_cli():
        sets = [a for kv in settings for a in ("--set", kv)]
        return [sys.executable, str(HERE / "fit_task.py"), "--model", run.task.model, "--npz", str(run.npz), *common,
                *sets]  # fmt: skip
    common += [a for kv in settings for a in ("--" + kv.partition("=")[0].replace("_", "-"), kv.partition("=")[2])]
    loss = ["--loss", "mse"] if run.task.loss == "mse" else []
    data = ["--dataset", f"npz:{run.npz}"]
    return [CSQ_HW, "train", "--model", run.task.model, *data, *common, *loss, "--log-format", "plain"]


def execute(run: Run, epochs: int | None, logs: Path, threads: int, settings: tuple[str, ...] = ()
            ) -> tuple[Run, int, float]:  # fmt: skip
    """Train ``run`` in a subprocess (log in ``logs``); return it with the exit code and wall seconds."""
    resume = (run.out / "checkpoint.pt").is_file()
    if run.out.exists() and not resume:  # killed before its first checkpoint: nothing to continue
        shutil.rmtree(run.out)
    run.out.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(threads))
    cmd = command(run, epochs, resume, settings)
    t0 = time.perf_counter()
    with open(logs / f"{run.tag}.log", "w") as log:
        log.write(" ".join(cmd) + "\n")
        log.flush()
        rc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, check=False).returncode
    wall = time.perf_counter() - t0
    (logs / f"{run.tag}.wall").write_text(f"{wall:.2f}\n")
    return run, rc, wall


def plan(tasks: list[Task], seeds: list[int], out: Path, data_dir: str | None,
         methods: tuple[str, ...] = ("csq", "qat")) -> list[Run]:  # fmt: skip
    """Every run of the suite (generating missing data sets first, one at a time)."""
    runs = []
    for task in tasks:
        t0 = time.perf_counter()
        npz = dataset_path(task, data_dir=data_dir, verbose=True)
        print(f"data {task.name}: {npz} ({time.perf_counter() - t0:.1f} s)", flush=True)
        for budget, bits in zip(task.budgets, task.budget_bits, strict=True):
            for seed in seeds:
                for method in methods:
                    where = out / "runs" / task.name / budget.replace("=", "-") / f"{method}-s{seed}"
                    runs.append(Run(task, budget, bits, seed, method, npz, where))
    return runs


def float_scores(tasks: list[Task], out: Path, data_dir: str | None, epochs: int) -> dict[str, float]:
    """Float (unquantized) scores per task, cached in ``OUT/float.json``."""
    from float_baseline import train_float

    path = out / "float.json"
    cache = json.loads(path.read_text()) if path.is_file() else {}
    for task in tasks:
        key = f"{task.name}@{epochs}"
        if key not in cache:
            t0 = time.perf_counter()
            cache[key] = train_float(task, dataset_path(task, data_dir=data_dir), epochs=epochs)
            print(f"float {task.name}: {cache[key]:.2f} % ({time.perf_counter() - t0:.1f} s)", flush=True)
            path.write_text(json.dumps(cache, indent=1))
    return {t.name: cache[f"{t.name}@{epochs}"] for t in tasks}


def main() -> None:
    parser = argparse.ArgumentParser(description="csq-hw's default CSQ vs plain QAT on the offline task suite")
    parser.add_argument("--out", type=Path, default=Path("runs/suite"))
    parser.add_argument("--tasks", default=",".join(TASKS), help=f"comma list of {', '.join(TASKS)}")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=None, help="CSQ/QAT epochs (default: csq-hw's)")
    parser.add_argument("--workers", type=int, default=1, help="runs in parallel")
    parser.add_argument("--data-dir", default=None, help="data cache (default ~/.cache/csq-hw/suite)")
    parser.add_argument("--float", action="store_true", help="also train each task's float model (plain torch)")
    parser.add_argument("--float-epochs", type=int, default=10)
    parser.add_argument("--methods", default="csq,qat", help="csq, qat or both")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="an option for every run (ablations), e.g. --set pretrain_epochs=0")  # fmt: skip
    args = parser.parse_args()
    t_start = time.perf_counter()
    unknown = [t for t in args.tasks.split(",") if t not in TASKS]
    if unknown:
        parser.error(f"unknown task(s) {', '.join(unknown)}; known: {', '.join(TASKS)}")
    tasks = [TASKS[t] for t in args.tasks.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    out = args.out.resolve()
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    if any(t.loss == "mse" for t in tasks):
        print(f"mse tasks via {'the CLI (--loss mse)' if mse_via_cli() else 'the Python API (fit_task.py)'}")
    runs = plan(tasks, seeds, out, args.data_dir, tuple(args.methods.split(",")))
    todo = [r for r in runs if not (r.out / "summary.json").is_file()]
    print(f"{len(runs)} runs, {len(runs) - len(todo)} done already, {len(todo)} to train, {args.workers} at a time")
    threads = max(1, (os.cpu_count() or 1) // max(args.workers, 1))
    failed = []
    with ThreadPoolExecutor(max_workers=max(args.workers, 1)) as pool:
        futures = [pool.submit(execute, r, args.epochs, logs, threads, tuple(args.set)) for r in todo]
        for k, fut in enumerate(as_completed(futures), 1):
            run, rc, wall = fut.result()
            if rc != 0 or not (run.out / "summary.json").is_file():
                failed.append(run)
                print(f"[{k}/{len(todo)}] {run.tag}: FAILED rc={rc} ({wall:.1f} s), log {logs / run.tag}.log")
                continue
            row = collect_run(run, logs)
            warn = f"  warnings: {row['warnings']}" if row["warnings"] else ""
            print(f"[{k}/{len(todo)}] {run.tag}: score {row['score']:.2f} (best soft {row['best_soft']:.2f}), "
                  f"cost/budget {row['cost_over_budget']:.3f}, {wall:.1f} s{warn}", flush=True)  # fmt: skip
    floats = float_scores(tasks, out, args.data_dir, args.float_epochs) if args.float else {}
    write_reports([r for r in runs if (r.out / "summary.json").is_file()], out, logs, floats)
    if failed:
        print(f"{len(failed)} run(s) failed: {', '.join(r.tag for r in failed)}")
    print(f"total wall time {time.perf_counter() - t_start:.1f} s")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
