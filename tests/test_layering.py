"""The package's shape, read from its source: imports go downward only, SQL stays in the store,
protocols are asked rather than named, and private names stay in their module."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "assay"

# What each part may not import. The layers, lowest first: models, tasks, stats (pure computation on
# data it is given); run (the runner, the store, reading runs as data); judge and scaling; report;
# api, cli, demo and importers on top.
TOP = {"api", "cli", "demo", "importers"}
FORBIDDEN = {
    "models": {"tasks", "stats", "run", "judge", "scaling", "report"} | TOP,
    "tasks": {"stats", "run", "judge", "scaling", "report"} | TOP,
    "stats": {"run", "judge", "scaling", "report"} | TOP,
    "run": {"judge", "scaling", "report"} | TOP,
    "judge": {"scaling", "report"} | TOP,
    "scaling": {"judge", "report"} | TOP,
    "report": {"cli", "demo"},
}


@dataclass
class Import:
    path: Path  # the importing file
    line: int
    module: str  # absolute: assay.stats.compare
    name: str | None  # the name taken from it (from MODULE import NAME), None for `import MODULE`


def _module_of(path: Path, src: Path = SRC) -> list[str]:
    parts = list(path.relative_to(src).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def _imports(path: Path, src: Path = SRC) -> list[Import]:
    """Every import in the file, at any depth (the code base imports inside functions to stay fast)."""
    parts = _module_of(path, src)
    package = parts if path.name == "__init__.py" else parts[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [Import(path, node.lineno, alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ([module] if module else []))
            found += [Import(path, node.lineno, module, alias.name) for alias in node.names]
    return [i for i in found if i.module == "assay" or i.module.startswith("assay.")]


def _sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _where(path: Path, line: int) -> str:
    return f"{path.relative_to(SRC)}:{line}"


def test_the_package_is_read():
    # A scan that found nothing would pass every check below.
    imports = [i for path in _sources() for i in _imports(path)]
    assert len(_sources()) > 50 and len(imports) > 300
    assert any(i.module == "assay.run.store" for i in imports)


def test_no_layer_imports_one_above_it():
    wrong = []
    for path in _sources():
        parts = _module_of(path)
        if len(parts) < 2 or parts[1] not in FORBIDDEN:
            continue
        for imp in _imports(path):
            target = imp.module.split(".")
            # `from assay import api` names the part in the imported name.
            part = target[1] if len(target) > 1 else imp.name
            if part in FORBIDDEN[parts[1]]:
                wrong.append(f"{_where(path, imp.line)}: {parts[1]} imports {imp.module}")
    assert not wrong, "imports against the layering:\n" + "\n".join(dict.fromkeys(wrong))


def test_the_layering_check_sees_an_upward_import(tmp_path):
    stats = tmp_path / "src" / "assay" / "stats"
    stats.mkdir(parents=True)
    (stats / "bad.py").write_text("def f():\n    from ..run.store import scores_frame\n")
    assert [i.module for i in _imports(stats / "bad.py", tmp_path / "src")] == ["assay.run.store"]


def test_private_names_are_not_imported_across_modules():
    wrong = []
    for path in _sources():
        own_package = ".".join(_module_of(path)[:2])
        for imp in _imports(path):
            if imp.name is not None and imp.name.startswith("_") and not imp.name.startswith("__"):
                wrong.append(f"{_where(path, imp.line)}: from {imp.module} import {imp.name}")
            private = [p for p in imp.module.split(".") if p.startswith("_")]
            # A private module (stats/_inputs.py) serves its own package only.
            if private and not imp.module.startswith(own_package + "."):
                wrong.append(f"{_where(path, imp.line)}: {imp.module} is private to its package")
    assert not wrong, "private names used outside their module:\n" + "\n".join(wrong)


def test_only_the_store_holds_a_database_connection():
    wrong = []
    for path in _sources():
        if path == PACKAGE / "run" / "store.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr == "conn":
                wrong.append(_where(path, node.lineno))
    assert not wrong, "SQL outside run/store.py (.conn):\n" + "\n".join(wrong)


# A comparison with one of these strings that is not about protocols.
NOT_PROTOCOLS = {("stats/binary.py", "exact")}  # the exact (Clopper-Pearson) interval


def test_protocols_are_asked_not_named():
    from assay.judge.protocols import protocol_names

    names = set(protocol_names())
    assert {"pointwise", "pairwise", "reference"} <= names
    wrong = []
    for path in _sources():
        where = path.relative_to(PACKAGE).as_posix()
        if where.startswith("judge/protocols/"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Compare):
                continue
            for constant in ast.walk(node):
                if (
                    isinstance(constant, ast.Constant)
                    and constant.value in names
                    and (where, constant.value) not in NOT_PROTOCOLS
                ):
                    wrong.append(f"{_where(path, node.lineno)}: compares with {constant.value!r}")
    assert not wrong, "protocol names compared outside judge/protocols/ (ask the record):\n" + "\n".join(wrong)


@pytest.mark.parametrize("part", sorted(set(FORBIDDEN).union(*FORBIDDEN.values())))
def test_every_part_named_exists(part):
    assert (PACKAGE / part).is_dir() or (PACKAGE / f"{part}.py").is_file()
