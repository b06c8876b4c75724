"""``csq-hw export RUN_DIR --out PROJECT_DIR``: hls4ml project from a trained run, compiled and bit-exact checked.

The ``hls`` package (extra ``csq-hw[hls]``) is imported only when the command runs.
"""

from __future__ import annotations

import argparse

from csq_hw.errors import UserError

from .output_args import add_log_format_arg

HELP = "write an hls4ml project for a trained run, compile its C simulation and prove it bit-exact"
INTERRUPTED = "--out is as it was before this export (a project is moved into place only after its check)"

# the closed values of hls.config (BACKENDS, IO_TYPES, STRATEGIES), here so that --help does not import hls4ml;
# tests/test_cli_conventions.py keeps them equal
BACKENDS = ("Vitis", "Vivado", "Quartus", "Catapult")
IO_TYPES = ("io_parallel", "io_stream")
STRATEGIES = ("Latency", "Resource", "distributed_arithmetic")


def _any_case(choices: tuple[str, ...]):  # noqa: ANN202 - an argparse type callable
    """Accept ``vitis`` for ``Vitis`` (as hls.config does), then let argparse check the choice."""
    return lambda text: next((c for c in choices if c.lower() == text.lower()), text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="run directory written by `csq-hw train`")
    parser.add_argument("--out", required=True, metavar="PROJECT_DIR", help="hls4ml project directory to write")
    parser.add_argument("--backend", default="Vitis", type=_any_case(BACKENDS), choices=BACKENDS,
                        help="the hls4ml backend (default: Vitis)")  # fmt: skip
    parser.add_argument("--io-type", default="io_parallel", type=_any_case(IO_TYPES), choices=IO_TYPES,
                        help="how layers pass data (default: io_parallel)")  # fmt: skip
    parser.add_argument("--strategy", default="Latency", type=_any_case(STRATEGIES), choices=STRATEGIES,
                        help="hls4ml strategy of every Linear/Conv (default: Latency)")  # fmt: skip
    parser.add_argument("--reuse-factor", type=int, default=1, help="reuse factor of every Linear/Conv (default 1)")
    parser.add_argument("--part", default=None, help="FPGA part (default: the backend's)")
    parser.add_argument("--clock-ns", type=float, default=5.0, help="clock period in ns (default 5)")
    parser.add_argument("--max-samples", type=int, default=None, help="check only the first N test samples")
    parser.add_argument(
        "--dataset",
        default=None,
        help="check on this data set (e.g. digits, npz:PATH) instead of the one config.toml names",
    )
    parser.add_argument("--data-dir", dest="data_dir", default=None, help="where --dataset's files are cached")
    parser.add_argument("--build", action="store_true", help="run synthesis afterwards (needs the vendor tools)")
    add_log_format_arg(parser)  # export prints one line per step in either format


def run(args: argparse.Namespace) -> int:
    try:
        import hls
    except ModuleNotFoundError as exc:
        if exc.name == "hls4ml":
            raise UserError("csq-hw export needs hls4ml; install the HLS extra: pip install csq-hw[hls]") from None
        raise
    result = hls.export(
        args.run_dir,
        args.out,
        backend=args.backend,
        io_type=args.io_type,
        strategy=args.strategy,
        reuse_factor=args.reuse_factor,
        part=args.part,
        clock_ns=args.clock_ns,
        max_samples=args.max_samples,
        dataset=args.dataset,
        data_dir=args.data_dir,
        progress=True,
    )
    seconds = result.report["seconds"]["write_compile"]
    if not result.passed:
        print(result.verdict)
        print(f"the project that failed its check is in {result.out_dir} (report: csq_report.json); {args.out} is as "
              "it was; please report this as a csq-hw bug")  # fmt: skip
        return 1
    print(f"wrote {result.out_dir} (write + compile {seconds:.1f} s); report: {result.out_dir / 'csq_report.json'}")
    print(result.verdict)
    acc = result.report["run_check"]["accuracy"]
    if acc is not None and acc["firmware_test_acc"] is not None:
        same = "" if acc["run_test_acc"] is None else f", the run's {acc['run_test_acc']:.4f}"
        print(f"firmware test accuracy {acc['firmware_test_acc']:.4f}{same}")
    if args.build:
        hls.build_project(result)
    return 0
