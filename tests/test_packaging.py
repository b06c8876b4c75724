"""pyproject.toml against the code: every third-party import is declared, the packages ship py.typed, hls4ml is
held to its 1.3 series with ``~=``."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("csq_hw", "cost_models", "hls")

# import name -> distribution name where they differ
DISTRIBUTION_OF = {
    "PIL": "pillow",
    "sklearn": "scikit-learn",
    "yaml": "pyyaml",
    "cv2": "opencv-python",
    "skimage": "scikit-image",
    "google": "protobuf",
}


def _normalise(name: str) -> str:
    """PEP 503: lower case, runs of ``-_.`` as one ``-``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(spec: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", spec)
    assert match, spec
    return _normalise(match.group(1))


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _declared(project: dict) -> set[str]:
    specs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        specs += extra
    return {_requirement_name(s) for s in specs} - {_normalise(project["name"])}


def _imports(source: str) -> set[str]:
    """Top-level module names of the absolute imports in ``source``."""
    out = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module.split(".")[0])
    return out


def _third_party(modules: set[str]) -> set[str]:
    return {m for m in modules if m not in sys.stdlib_module_names and m not in PACKAGES and m != "__future__"}


def _undeclared(modules: set[str], declared: set[str]) -> set[str]:
    return {m for m in _third_party(modules) if _normalise(DISTRIBUTION_OF.get(m, m)) not in declared}


def test_the_check_maps_import_names_to_distributions() -> None:
    source = "import PIL.Image\nfrom sklearn.datasets import x\nimport os, json\nfrom . import up\nimport tomli_w\n"
    assert _third_party(_imports(source)) == {"PIL", "sklearn", "tomli_w"}
    assert _undeclared(_imports(source), {"scikit-learn", "tomli-w"}) == {"PIL"}  # pillow missing
    assert _undeclared(_imports(source), {"pillow", "scikit-learn", "tomli-w"}) == set()


def test_every_third_party_import_is_declared() -> None:
    declared = _declared(_pyproject()["project"])
    found: dict[str, list[str]] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for module in _undeclared(_imports(path.read_text(encoding="utf-8")), declared):
                found.setdefault(module, []).append(str(path.relative_to(ROOT)))
    assert found == {}, f"imported but not in pyproject dependencies or extras: {found}"


def test_pillow_is_a_core_dependency() -> None:
    # csq_hw/data/image_folder.py imports PIL for the image-folder data source, which is not optional
    assert "pillow" in {_requirement_name(s) for s in _pyproject()["project"]["dependencies"]}


def test_packages_ship_py_typed() -> None:
    package_data = _pyproject()["tool"]["setuptools"]["package-data"]
    for package in PACKAGES:
        assert (ROOT / package / "py.typed").is_file(), package
        assert "py.typed" in package_data.get(package, []), package


def test_hls4ml_takes_patch_releases_of_1_3() -> None:
    project = _pyproject()["project"]
    specs = [s for s in project["dependencies"] if _requirement_name(s) == "hls4ml"]
    for extra in project["optional-dependencies"].values():
        specs += [s for s in extra if _requirement_name(s) == "hls4ml"]
    assert len(specs) >= 2  # the hls extra and dev
    assert all(re.fullmatch(r"hls4ml\s*~=\s*1\.3\.0", s.split(";")[0].strip()) for s in specs), specs


def test_project_metadata() -> None:
    project = _pyproject()["project"]
    assert set(project["urls"]) >= {"Homepage", "Repository", "Documentation", "Issues"}
    classifiers = set(project["classifiers"])
    assert {f"Programming Language :: Python :: 3.{v}" for v in (10, 11, 12)} <= classifiers
    assert "Typing :: Typed" in classifiers and "License :: OSI Approved :: Apache Software License" in classifiers
