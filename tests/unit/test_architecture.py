"""Entrypoints depend on bootstrap, never the other way: no service's `bootstrap.py` reaches
an `entrypoints` module, directly or through the modules of its own package it imports."""

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
BOOTSTRAPS = sorted(ROOT.glob("services/*/chime_*/bootstrap.py"))


def imported(path: Path, module: str) -> set[str]:
    """The modules `path` (named `module`) imports, relative imports resolved."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            source = ".".join(part for part in (base, node.module) if part)
            found.add(source)
            # `from pkg import mod` imports a module too.
            found.update(f"{source}.{alias.name}" for alias in node.names)
    return found


def file_of(package_dir: Path, module: str) -> Path | None:
    parts = module.split(".")[1:]
    candidate = package_dir.joinpath(*parts)
    for path in (candidate.with_suffix(".py"), candidate / "__init__.py"):
        if path.is_file():
            return path
    return None


def path_to_entrypoints(bootstrap: Path) -> list[str] | None:
    """The chain of imports from bootstrap to an entrypoints module, if there is one."""
    package_dir = bootstrap.parent
    start = f"{package_dir.name}.bootstrap"
    chains = {start: [start]}
    todo = [start]
    while todo:
        module = todo.pop()
        path = file_of(package_dir, module)
        if path is None:
            continue
        for name in sorted(imported(path, module)):
            if name.split(".")[0] != package_dir.name or name in chains:
                continue
            chains[name] = [*chains[module], name]
            if "entrypoints" in name.split("."):
                return chains[name]
            todo.append(name)
    return None


def test_every_service_has_a_bootstrap():
    assert {p.parent.parent.name for p in BOOTSTRAPS} == {"api", "ingest", "scheduler", "sender"}


@pytest.mark.parametrize("bootstrap", BOOTSTRAPS, ids=lambda p: p.parent.parent.name)
def test_bootstrap_never_imports_an_entrypoint(bootstrap):
    assert path_to_entrypoints(bootstrap) is None, " -> ".join(path_to_entrypoints(bootstrap))


def test_an_import_of_an_entrypoint_is_found(tmp_path):
    package = tmp_path / "chime_x"
    (package / "entrypoints").mkdir(parents=True)
    (package / "entrypoints" / "__init__.py").write_text("")
    (package / "entrypoints" / "loop.py").write_text("")
    (package / "wiring.py").write_text("from .entrypoints import loop\n")
    (package / "bootstrap.py").write_text("from chime_x import wiring\n")
    assert path_to_entrypoints(package / "bootstrap.py") == [
        "chime_x.bootstrap",
        "chime_x.wiring",
        "chime_x.entrypoints",
    ]
