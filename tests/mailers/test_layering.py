"""The mail layer stands below the web: `mailers/` imports nothing from `web/`, the blueprints
or `wsgi` (what it needs of the app comes through `current_app`, e.g. its instance folder),
so a worker, the CLI and the standalone SMTP sink load no web code."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("web", "admin", "portal", "wsgi")


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_mailers_import_nothing_from_the_web_layer():
    offending = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in (ROOT / "mailers").rglob("*.py")
        for name in imported_modules(path)
        if name.split(".")[0] in FORBIDDEN
    }
    assert not offending, sorted(offending)
