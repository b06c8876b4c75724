"""hls4ml export of csq-hw runs, proven bit-exact (extra ``csq-hw[hls]``).

``hls.export(run_dir, out_dir, ...)`` writes and compiles an hls4ml project and checks it against an independent
integer reference; see ``docs/hls.md``. ``hls.export_qonnx(model, precisions, out_path, x_check)`` writes the exact
model as QONNX and checks it with qonnx's executor (extra ``csq-hw[qonnx]``). hls4ml, onnx and qonnx are imported
only when an export runs.
"""

from __future__ import annotations

from .export import ExportResult, build_project, export, export_model
from .qonnx_export import QonnxResult, check_qonnx, export_qonnx, export_qonnx_run

__all__ = [
    "ExportResult",
    "QonnxResult",
    "build_project",
    "check_qonnx",
    "export",
    "export_model",
    "export_qonnx",
    "export_qonnx_run",
]
