"""List nl/de catalog entries that still need a translator; exit 1 if there are any.

Run after `make messages`:  .venv/bin/python translations/check.py

Reported per language:
  missing      msgid is in messages.pot but not in the catalog (run `make messages`)
  untranslated msgstr (or one of the plural forms) is empty
  fuzzy        entry carries the `#, fuzzy` flag (ignored by `pybabel compile`)
  placeholder  the set of %(name)s / %s placeholders differs from the msgid
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from babel.messages.pofile import read_po

HERE = Path(__file__).resolve().parent
LANGUAGES = ("nl", "de")
# %(name)s, %(n)d, ... and bare %s / %d; "%%" is a literal percent sign, not a placeholder.
PLACEHOLDER = re.compile(r"%(?:\([^)]+\))?[-#0 +]*\d*(?:\.\d+)?[sdifr]")


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text.replace("%%", "")))


def show(msgid) -> str:
    return repr(msgid[0] if isinstance(msgid, tuple) else msgid)


def check(lang: str, template_ids: set) -> list[str]:
    path = HERE / lang / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as f:
        catalog = read_po(f, locale=lang)
    problems = []
    seen = set()
    for m in catalog:
        if not m.id:
            continue
        seen.add(m.id)
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        if not all(strings):
            problems.append(f"{lang}: untranslated: {show(m.id)}")
            continue
        if m.fuzzy:
            problems.append(f"{lang}: fuzzy: {show(m.id)}")
        # Plural forms: msgstr[0] is matched against msgid, every further form against msgid_plural.
        for i, s in enumerate(strings):
            want = placeholders(ids[min(i, len(ids) - 1)])
            got = placeholders(s)
            if got != want:
                problems.append(
                    f"{lang}: placeholder: {show(m.id)} msgstr[{i}] has {sorted(got)}, expected {sorted(want)}"
                    if len(strings) > 1
                    else f"{lang}: placeholder: {show(m.id)} has {sorted(got)}, expected {sorted(want)}"
                )
    for msgid in sorted(template_ids - seen, key=show):
        problems.append(f"{lang}: missing: {show(msgid)} (run `make messages`)")
    return problems


def main() -> int:
    with (HERE / "messages.pot").open("rb") as f:
        template_ids = {m.id for m in read_po(f) if m.id}
    problems = [p for lang in LANGUAGES for p in check(lang, template_ids)]
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} problem(s).")
        return 1
    print(f"OK: {', '.join(LANGUAGES)} fully translated, placeholders match ({len(template_ids)} messages).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
