"""The import boundaries, checked on the source with ``ast`` (imports inside functions count too):

- apps, dashboards and benchmarks use only the core's public names; the core imports no app;
- each app exports its public API from its ``__init__.py`` (``__all__``);
- nothing in apps, dashboards or bench imports an underscore (private) name across modules;
- apps import neither each other, nor ``dashboards``, nor ``bench``;
- ``streamlit`` is imported only by the dashboard page modules;
- nothing imports an app's CLI module (an entry point).

Each failure names the file, the line and the rule broken.
"""

import ast
import importlib
from pathlib import Path

import pytest

import shared_dlm

ROOT = Path(__file__).resolve().parents[1]
CLIENTS = ["apps", "dashboards", "bench"]
APPS = ["apps.code", "apps.protein"]
PAGES = {"dashboards/antibody_app.py", "dashboards/code_app.py", "dashboards/protein_app.py"}
PROJECT = {"shared_dlm", "apps", "dashboards", "bench"}


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def absolute(node: ast.ImportFrom, path: Path) -> str:
    """The module an ``ImportFrom`` names, relative imports resolved against the file's package."""
    if node.level == 0:
        return node.module or ""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(path: Path):
    """(line, module, name) for each import in the file; name is None for ``import module``."""
    for node in ast.walk(parse(path)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, None
        elif isinstance(node, ast.ImportFrom):
            module = absolute(node, path)
            for alias in node.names:
                yield node.lineno, module, alias.name


def python_files(folder: str):
    return sorted((ROOT / folder).rglob("*.py"))


def where(path: Path, line: int) -> str:
    return f"{path.relative_to(ROOT)}:{line}"


NAMEDTUPLE_API = {"_asdict", "_field_defaults", "_fields", "_make", "_replace"}  # public, underscored against clashes


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def test_clients_use_only_public_core_names():
    public = set(shared_dlm.__all__)
    bad = []
    for folder in CLIENTS:
        for path in python_files(folder):
            for line, module, name in imports(path):
                if module.startswith("shared_dlm."):
                    bad.append(f"{where(path, line)} imports private module {module} (rule: the core only through shared_dlm)")
                elif module == "shared_dlm" and name is not None and name not in public:
                    bad.append(f"{where(path, line)} imports {name!r}, not in shared_dlm.__all__ (rule: public core names only)")
    assert not bad, "\n".join(bad)


def test_core_imports_no_app():
    bad = [
        f"{where(path, line)} imports {module} (rule: the core imports no app)"
        for path in python_files("shared_dlm")
        for line, module, _ in imports(path)
        if module.split(".")[0] in CLIENTS
    ]
    assert not bad, "\n".join(bad)


def test_every_public_name_exists():
    missing = [name for name in shared_dlm.__all__ if not hasattr(shared_dlm, name)]
    assert not missing


@pytest.mark.parametrize("app", APPS)
def test_each_app_exports_its_public_api_from_its_init(app):
    init = ROOT / app.replace(".", "/") / "__init__.py"
    declared = [
        node
        for node in parse(init).body
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
    ]
    assert declared, f"{where(init, 1)} has no __all__ (rule: each app exports its public API from its __init__.py)"
    module = importlib.import_module(app)
    names = list(module.__all__)
    assert names, f"{where(init, declared[0].lineno)}: __all__ is empty (rule: each app exports its public API)"
    missing = [name for name in names if not hasattr(module, name)]
    assert not missing, f"{where(init, declared[0].lineno)}: __all__ names {missing}, which {app} does not define"
    private = [name for name in names if is_private(name)]
    assert not private, f"{where(init, declared[0].lineno)}: __all__ exports private names {private}"


def private_attribute_uses(path: Path):
    """(line, text) for each ``x._y`` that reaches into another module's private name: ``x`` a project module
    or a name imported from one (``e._timed``, ``TrainingSearch._search``), or any other object but ``self``,
    ``cls`` or a third-party module whose ``_y`` this file does not define (``search._search`` on an object
    of another module's class). A cheap reading of the source, not type inference."""
    tree = parse(path)
    own = module_name(path)
    project: set[str] = set()  # local names that stand for project modules or names imported from them
    foreign: set[str] = set()  # local names bound to third-party or standard modules (argparse._SubParsersAction)
    defined: set[str] = set()  # names this file defines or assigns, its own privates among them
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                local = alias.asname or alias.name.split(".")[0]
                (project if alias.name.split(".")[0] in PROJECT else foreign).add(local)
        elif isinstance(node, ast.ImportFrom):
            module = absolute(node, path)
            if module != own:
                for alias in node.names:
                    (project if module.split(".")[0] in PROJECT else foreign).add(alias.asname or alias.name)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            defined.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            defined.add(node.attr)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and is_private(node.attr) and node.attr not in NAMEDTUPLE_API:
            base = node.value
            while isinstance(base, ast.Attribute):
                base = base.value
            name = base.id if isinstance(base, ast.Name) else None
            if name in project or (name not in foreign | {"self", "cls"} and node.attr not in defined):
                yield node.lineno, ast.unparse(node)


def test_no_private_name_crosses_a_module():
    bad = []
    for folder in CLIENTS:
        for path in python_files(folder):
            for line, module, name in imports(path):
                if name is not None and is_private(name):
                    bad.append(f"{where(path, line)} imports {name!r} from {module} (rule: no private name across modules)")
                elif name is None and any(is_private(part) for part in module.split(".")):
                    bad.append(f"{where(path, line)} imports private module {module} (rule: no private name across modules)")
            for line, text in private_attribute_uses(path):
                bad.append(f"{where(path, line)} uses {text} of another module (rule: no private name across modules)")
    assert not bad, "\n".join(bad)


def test_apps_import_neither_each_other_nor_dashboards_nor_bench():
    bad = []
    for app in APPS:
        others = {a for a in APPS if a != app} | {"dashboards", "bench"}
        for path in python_files(app.replace(".", "/")):
            for line, module, name in imports(path):
                targets = {module} | ({f"{module}.{name}"} if name else set())
                hit = sorted(o for o in others for t in targets if t == o or t.startswith(o + "."))
                if hit:
                    bad.append(
                        f"{where(path, line)} imports {module}{'.' + name if name else ''} "
                        f"(rule: {app} imports neither the other app, nor dashboards, nor bench)"
                    )
    assert not bad, "\n".join(bad)


def test_only_the_dashboard_pages_import_streamlit():
    bad = [
        f"{where(path, line)} imports {module} (rule: streamlit only in {', '.join(sorted(PAGES))})"
        for folder in ["shared_dlm", *CLIENTS]
        for path in python_files(folder)
        if str(path.relative_to(ROOT)) not in PAGES
        for line, module, _ in imports(path)
        if module.split(".")[0] == "streamlit"
    ]
    assert not bad, "\n".join(bad)


def test_no_module_imports_an_apps_cli():
    """A CLI is an entry point: what the dashboards or benchmarks need from it (a demo, a record) belongs in the
    app's modules, so nothing imports ``apps.<app>.cli`` but the app's own ``__main__``."""
    clis = {f"{app}.cli" for app in APPS}
    bad = [
        f"{where(path, line)} imports {module}{'.' + name if name else ''} (rule: nothing imports an app's CLI module)"
        for folder in CLIENTS
        for path in python_files(folder)
        if module_name(path) not in clis and path.name != "__main__.py"
        for line, module, name in imports(path)
        if module in clis or (name and f"{module}.{name}" in clis)
    ]
    assert not bad, "\n".join(bad)
