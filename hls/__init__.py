"""hls4ml export of csq-hw runs, proven bit-exact (extra ``csq-hw[hls]``).

``hls.export(run_dir, out_dir, ...)`` writes and compiles an hls4ml project and checks it against an independent
integer reference; see ``docs/hls.md``. hls4ml is imported only when an export runs.
"""

from __future__ import annotations

from .export import ExportResult, build_project, export, export_model

__all__ = ["ExportResult", "build_project", "export", "export_model"]
