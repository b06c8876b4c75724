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
BACKENDS = ("Vitis", "Vivado", "Quartus", "Catapult", "oneAPI")
CHANNELS_LAST = ("full", "internal")
FORMATS = ("hls", "qonnx")
#: options that only the hls4ml project takes, with their defaults (given with --format qonnx: refused)
HLS_ONLY = {"backend": "Vitis", "io_type": "io_parallel", "strategy": None, "reuse_factor": 1, "layer_config": None,
            "part": None, "clock_ns": 5.0, "project_name": "csq_prj", "channels_last": "full", "tb_samples": 200,
            "build": False, "csim": False, "cosim": False, "export_ip": False, "vsynth": False}  # fmt: skip
IO_TYPES = ("io_parallel", "io_stream")
STRATEGIES = ("Latency", "Resource", "distributed_arithmetic")


def _any_case(choices: tuple[str, ...]):  # noqa: ANN202 - an argparse type callable
    """Accept ``vitis`` for ``Vitis`` (as hls.config does), then let argparse check the choice."""
    return lambda text: next((c for c in choices if c.lower() == text.lower()), text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="run directory written by `csq-hw train`")
    parser.add_argument("--out", required=True, metavar="PATH",
                        help="the hls4ml project directory to write (--format qonnx: the .onnx file)")  # fmt: skip
    parser.add_argument("--format", default="hls", choices=FORMATS,
                        help="hls: an hls4ml project, C simulation checked (default); qonnx: a QONNX model, checked "
                             "with qonnx's executor (pip install 'csq-hw[qonnx]')")  # fmt: skip
    parser.add_argument("--backend", default="Vitis", type=_any_case(BACKENDS), choices=BACKENDS,
                        help="the hls4ml backend (default: Vitis)")  # fmt: skip
    parser.add_argument("--io-type", default="io_parallel", type=_any_case(IO_TYPES), choices=IO_TYPES,
                        help="how layers pass data (default: io_parallel)")  # fmt: skip
    parser.add_argument("--strategy", default=None, type=_any_case(STRATEGIES), choices=STRATEGIES,
                        help="hls4ml strategy of every Linear/Conv (default: Latency; Resource on Quartus and oneAPI, "
                             "the only one they implement)")  # fmt: skip
    parser.add_argument("--reuse-factor", type=int, default=1, metavar="N",
                        help="reuse factor of every Linear/Conv (default 1; hls4ml's valid ones)")  # fmt: skip
    parser.add_argument("--layer-config", default=None, metavar="FILE",
                        help="per-layer reuse_factor/strategy from a .toml or .json file keyed by layer name "
                             "(docs/hls.md)")  # fmt: skip
    parser.add_argument("--part", default=None, help="FPGA part (default: the backend's; the report records it)")
    parser.add_argument("--clock-ns", type=float, default=5.0, help="clock period in ns (default 5)")
    parser.add_argument("--project-name", default="csq_prj", metavar="NAME",
                        help="HLS project and top function name, a C identifier (default: csq_prj)")  # fmt: skip
    parser.add_argument("--channels-last", default="full", choices=CHANNELS_LAST,
                        help="hls4ml's channels_last_conversion: full (the firmware takes PyTorch's channels-first "
                             "inputs and transposes them inside, default) or internal (it takes channels-last inputs; "
                             "tb_data is written so)")  # fmt: skip
    parser.add_argument(
        "--tb-samples",
        type=int,
        default=200,
        metavar="N",
        help="test vectors written to tb_data/ for the vendor testbench (default 200; 0: none)",
    )
    parser.add_argument("--max-samples", type=int, default=None, help="check only the first N test samples")
    parser.add_argument(
        "--dataset",
        default=None,
        help="check on this data set (e.g. digits, npz:PATH) instead of the one config.toml names",
    )
    parser.add_argument("--data-dir", dest="data_dir", default=None, help="where --dataset's files are cached")
    flow = parser.add_argument_group("vendor flow (after the bit-exact check; needs the vendor tool on PATH)")
    flow.add_argument("--build", action="store_true", help="run HLS synthesis and read its report into "
                      "csq_report.json beside csq-hw's estimates")  # fmt: skip
    flow.add_argument("--csim", action="store_true", help="with --build: the vendor C simulation on tb_data/")
    flow.add_argument("--cosim", action="store_true", help="with --build: RTL co-simulation on tb_data/")
    flow.add_argument("--export-ip", action="store_true", help="with --build: package the design as an IP")
    flow.add_argument("--vsynth", action="store_true",
                      help="with --build: logic synthesis (Vivado/Vitis netlist LUT/FF; Quartus compile)")  # fmt: skip
    add_log_format_arg(parser)  # export prints one line per step in either format


def run(args: argparse.Namespace) -> int:
    if args.format == "qonnx":
        return _run_qonnx(args)
    try:
        import hls
        from hls.build import BuildSteps
        from hls.layer_overrides import load_layer_overrides
    except ModuleNotFoundError as exc:
        if exc.name == "hls4ml":
            raise UserError("csq-hw export needs hls4ml; install the HLS extra: pip install csq-hw[hls]") from None
        raise
    steps = BuildSteps(csim=args.csim, cosim=args.cosim, export_ip=args.export_ip, vsynth=args.vsynth)
    extra = [flag for flag, on in (("--csim", args.csim), ("--cosim", args.cosim), ("--export-ip", args.export_ip),
                                   ("--vsynth", args.vsynth)) if on]  # fmt: skip
    if extra and not args.build:
        raise UserError(f"{', '.join(extra)} are steps of the vendor flow; add --build")
    overrides = load_layer_overrides(args.layer_config) if args.layer_config else None
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
        project_name=args.project_name,
        channels_last=args.channels_last,
        layer_overrides=overrides,
        tb_samples=args.tb_samples,
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
    files = result.report["files"]
    reopen = (f"reopen with hls4ml.converters.load_saved_model('{result.out_dir / files['saved_model']}')"
              if files["saved_model"] else f"no .fml ({files['saved_model_error']})")  # fmt: skip
    print(f"part {result.report['options']['part']}; {reopen}; {files['tb_samples']} test vectors in tb_data/")
    note = (result.report.get("cost_agreement") or {}).get("note")
    if note:
        print(f"cost: {note}")
    if args.build:
        synth = hls.build_project(result, steps)
        print(_synthesis_line(synth, result.out_dir))
    return 0


def _synthesis_line(synth: dict | None, out_dir: object) -> str:
    if synth is None:
        return f"the build wrote no synthesis report csq-hw could read; see {out_dir}/build.log"
    return (
        f"synthesis report in {out_dir}/csq_report.json (synthesis, estimate_vs_synthesis); table and plot: "
        f"{out_dir}/estimate_vs_synthesis.csv, .png"
    )


def _run_qonnx(args: argparse.Namespace) -> int:
    given = [f"--{k.replace('_', '-')}" for k, default in HLS_ONLY.items() if getattr(args, k) != default]
    if given:
        raise UserError(f"{', '.join(given)}: options of the hls4ml project; --format qonnx writes one .onnx file "
                        "and takes --out, --max-samples, --dataset and --data-dir")  # fmt: skip
    from hls.qonnx_export import export_qonnx_run

    result = export_qonnx_run(args.run_dir, args.out, args.max_samples, args.dataset, args.data_dir)
    print(result.verdict)
    if not result.passed:
        print(f"the file that failed its check is {result.path}; {args.out} is as it was; please report this as a "
              "csq-hw bug")  # fmt: skip
        return 1
    print(f"wrote {result.path}")
    return 0
