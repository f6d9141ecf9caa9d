"""Layers point one way. `models/` (entities, services, the money/date formatter) imports
nothing from the layers above; `mailers/` nothing from the web layer, the blueprints or
`wsgi` (a worker, the CLI and the SMTP sink load no web code); and the two blueprints never
import each other."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RULES = {
    "models": ("web", "mailers", "admin", "portal", "wsgi"),
    "mailers": ("web", "admin", "portal", "wsgi"),
    "admin": ("portal",),
    "portal": ("admin",),
}


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", sorted(RULES))
def test_a_layer_imports_nothing_it_must_not(package):
    forbidden = RULES[package]
    offending = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in (ROOT / package).rglob("*.py")
        for name in imported_modules(path)
        if name.split(".")[0] in forbidden
    }
    assert not offending, sorted(offending)
