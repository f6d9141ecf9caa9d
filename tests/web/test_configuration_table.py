"""The README's configuration table and web/config.py agree: every variable the app reads
from the environment is in the table, and every variable in the table is read somewhere."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Read by `make run` or by gunicorn itself, not by the app's Python.
OUTSIDE_THE_APP = {"BIND", "PORT", "WEB_CONCURRENCY"}


def _table() -> set[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for row in section.splitlines():
        if row.startswith("| `"):
            names.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split("|")[1]))
    return names


def _read_by(path: Path) -> set[str]:
    source = path.read_text()
    return set(re.findall(r"""(?:environ(?:\.get)?\(?\[?|_int\(|_bool\(|_list\(|getenv\()\s*["']([A-Z][A-Z0-9_]+)["']""",
                          source))


def test_every_variable_web_config_reads_is_in_the_table():
    missing = _read_by(ROOT / "web" / "config.py") - _table()
    assert not missing, f"not in the README's configuration table: {sorted(missing)}"


def test_every_variable_in_the_table_is_read():
    app_code = [p for d in ("web", "models", "mailers", "admin", "portal", "api") for p in (ROOT / d).rglob("*.py")]
    read = set().union(*(_read_by(p) for p in [*app_code, ROOT / "wsgi.py", ROOT / "gunicorn.conf.py"]))
    unread = _table() - read - OUTSIDE_THE_APP
    assert not unread, f"in the table but read nowhere: {sorted(unread)}"
