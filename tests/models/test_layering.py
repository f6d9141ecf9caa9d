"""The entities and services stand on their own: `models/` imports nothing from the web
layer, the mail layer or the blueprints (the shared money/date formatter lives in
`models/formatting.py` for that reason)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("web", "mailers", "admin", "portal", "wsgi")


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_models_import_nothing_from_the_layers_above():
    offending = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in (ROOT / "models").rglob("*.py")
        for name in imported_modules(path)
        if name.split(".")[0] in FORBIDDEN
    }
    assert not offending, sorted(offending)
