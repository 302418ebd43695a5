"""The layering rules (docs/architecture.md), checked by walking the AST of every module of the project:

- the base package ``piaogen`` imports no app (``invoicing``, ``tolling``, ``support``, ``reports``); apps plug into
  it through registries (job kinds, home pages) and their own URLconfs;
- an app imports only the apps below it: ``tolling`` ← ``invoicing`` ← ``support``; ``reports`` reads all; nothing
  imports ``support`` or ``reports``;
- no module imports another module's ``_private`` name, nor reads one as ``other._name`` (a ``_name`` stays inside
  its module; a package's ``__init__`` may re-export its own submodules' names).

No database: these tests read source files only.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BASE = "piaogen"
APPS = ("tolling", "invoicing", "support", "reports")
MAY_IMPORT: dict[str, frozenset[str]] = {
    BASE: frozenset(),
    "tolling": frozenset(),
    "invoicing": frozenset({"tolling"}),
    "support": frozenset({"tolling", "invoicing"}),
    "reports": frozenset({"tolling", "invoicing", "support"}),
}
"""Which apps each top-level package may import (besides itself and the base)."""

# Private imports across modules that are tolerated: none (#17). A name used by another module is public; an entry
# added here for a transition fails `test_the_allow_list_is_not_stale` once it no longer matches.
PRIVATE_ALLOWED: frozenset[tuple[str, str, str]] = frozenset()


def _modules() -> list[tuple[str, Path]]:
    found = []
    for package in (BASE, *APPS):
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found.append((".".join(parts), path))
    return found


def _imports(module: str, path: Path) -> list[tuple[str, str | None, int]]:
    """(imported module, imported name or None, line) for every import in the file, lazy ones included."""
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[str, str | None, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, None, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                package = module.split(".") if is_package else module.split(".")[:-1]
                base = package[: len(package) - node.level + 1]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            found += [(source, alias.name, node.lineno) for alias in node.names]
    return found


def _top(name: str) -> str:
    return name.split(".")[0]


def test_the_base_package_imports_no_app_and_apps_import_only_downwards() -> None:
    upward = []
    for module, path in _modules():
        package = _top(module)
        for source, _name, line in _imports(module, path):
            target = _top(source)
            if target in APPS and target != package and target not in MAY_IMPORT[package]:
                upward.append(f"{path.relative_to(ROOT)}:{line} imports {source}")
    assert upward == []


def _private_imports() -> set[tuple[str, str, str]]:
    names = {module for module, _path in _modules()}
    found = set()
    for module, path in _modules():
        for source, name, _line in _imports(module, path):
            if source == module or _top(source) not in (BASE, *APPS):
                continue
            if name is None:
                continue
            if not name.startswith("_") or name.startswith("__"):
                continue
            if f"{source}.{name}" in names:  # a private submodule imported as a module
                continue
            if path.name == "__init__.py" and source.startswith(module + "."):
                continue  # a package re-exporting its own submodule's name
            found.add((str(path.relative_to(ROOT)), source, name))
        found |= _private_attributes(module, path, names)
    return found


def _private_attributes(module: str, path: Path, names: set[str]) -> set[tuple[str, str, str]]:
    """``other._name`` where ``other`` is one of our modules imported as a module (``from piaogen import x``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            aliases |= {(alias.asname or alias.name): alias.name for alias in node.names if alias.name in names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                if f"{node.module}.{alias.name}" in names:
                    aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            source = aliases[node.value.id]
            if node.attr.startswith("_") and not node.attr.startswith("__") and source != module:
                found.add((str(path.relative_to(ROOT)), source, node.attr))
    return found


def test_no_module_imports_another_modules_private_name() -> None:
    offending = sorted(_private_imports() - PRIVATE_ALLOWED)
    assert offending == []


def test_the_allow_list_is_not_stale() -> None:
    assert sorted(PRIVATE_ALLOWED - _private_imports()) == []
