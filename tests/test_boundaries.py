"""The import boundary: apps, dashboards and benchmarks use only the core's public names; the core imports no app."""

import ast
from pathlib import Path

import shared_dlm

ROOT = Path(__file__).resolve().parents[1]
CLIENTS = ["apps", "dashboards", "bench"]


def imports(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, None
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                yield node.lineno, node.module, alias.name


def python_files(folder: str):
    return sorted((ROOT / folder).rglob("*.py"))


def test_clients_use_only_public_core_names():
    public = set(shared_dlm.__all__)
    bad = []
    for folder in CLIENTS:
        for path in python_files(folder):
            for line, module, name in imports(path):
                where = f"{path.relative_to(ROOT)}:{line}"
                if module.startswith("shared_dlm."):
                    bad.append(f"{where} imports private module {module}")
                elif module == "shared_dlm" and name is not None and name not in public:
                    bad.append(f"{where} imports {name!r}, not in shared_dlm.__all__")
    assert not bad, "\n".join(bad)


def test_core_imports_no_app():
    bad = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in python_files("shared_dlm")
        for line, module, _ in imports(path)
        if module.split(".")[0] in CLIENTS
    ]
    assert not bad, "\n".join(bad)


def test_every_public_name_exists():
    missing = [name for name in shared_dlm.__all__ if not hasattr(shared_dlm, name)]
    assert not missing
