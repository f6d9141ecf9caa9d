"""`flask --app wsgi import customers|documents FILE` and `export customers|documents FILE`.

The import reads the file from disk as the wizard reads an upload (same encoding and
delimiter detection, same mapping guess, `--map` to correct it), and runs in this process
batch by batch, one transaction per batch, with a progress bar. Rows it cannot take are
listed and, with `--failed-rows`, written as CSV to fix and import again.
"""

from __future__ import annotations

import sys

import click
from flask import Flask
from flask.cli import with_appcontext

from models.db import db
from models.services.csv_import import export, fields, reading, runner, values
from models.services.errors import DomainError


def _parse_overrides(header: list[str], pairs: tuple[str, ...], known: set[str]) -> dict[int, str]:
    out: dict[int, str] = {}
    for pair in pairs:
        column, sep, key = pair.partition("=")
        if not sep:
            raise click.BadParameter(f"{pair!r}: use COLUMN=FIELD", param_hint="--map")
        column, key = column.strip(), key.strip()
        if column.isdigit() and column not in header:
            index = int(column) - 1
        elif column in header:
            index = header.index(column)
        else:
            raise click.BadParameter(f"no column {column!r} in the header", param_hint="--map")
        if key and key not in known and key != "-":
            raise click.BadParameter(f"{key!r} is not a field; fields: {', '.join(sorted(known))}",
                                     param_hint="--map")
        out[index] = "" if key == "-" else key
    return out


def _import(kind: str, path: str, overrides: tuple[str, ...], decimal: str | None, dry_run: bool,
            batch_size: int, failed_rows: str | None) -> None:
    chunks = runner.path_chunks(path)
    try:
        fmt = reading.inspect(chunks)
    except DomainError as error:
        raise click.ClickException(str(error.message)) from None
    custom = fields.custom_labels()
    known = {f.key for f in fields.fields_for(kind, custom)}
    mapping = fields.guess_mapping(kind, fmt.header, custom)
    for index, key in _parse_overrides(fmt.header, overrides, known).items():
        mapping = {i: k for i, k in mapping.items() if k != key or not key}
        mapping[index] = key
    mapping = {i: k for i, k in mapping.items() if k}
    if decimal is None:
        decimal = values.guess_decimal(fields.decimal_samples(kind, mapping, reading.preview(chunks, fmt, 50)))
    click.echo(f"{path}: {fmt.rows} rows, {fmt.encoding}, delimiter {fmt.delimiter!r}, decimal {decimal}")
    for index, column in enumerate(fmt.header):
        click.echo(f"  {column!r:30} -> {mapping.get(index, '(ignored)')}")
    problems = fields.check_mapping(kind, mapping)
    if problems:
        raise click.ClickException(" ".join(problems) + " Use --map COLUMN=FIELD.")
    converter = fields.Converter(kind, fmt.header, mapping, decimal, custom)
    totals = {"created": 0, "updated": 0, "unchanged": 0}
    failures: list[runner.Failure] = []
    db.session.rollback()
    with click.progressbar(length=fmt.rows, label="Dry run" if dry_run else "Importing",
                           show_pos=True, file=sys.stderr) as bar:
        position = {"row": 1}

        def after_batch(batch: runner.Batch) -> None:
            if not dry_run:
                db.session.commit()
            db.session.expunge_all()
            for key in totals:
                totals[key] += getattr(batch, key)
            failures.extend(batch.failures)
            position["row"] = batch.last_row
            bar.update(batch.rows)

        try:
            runner.run_batches(converter, reading.rows(chunks, fmt), actor_label="command line import",
                               dry_run=dry_run, batch_rows=batch_size, after_batch=after_batch)
        except DomainError as error:  # the file itself: a broken quote further down
            raise click.ClickException(runner.stopped_message(str(error.message), position["row"], dry_run)) from None
        except Exception as error:  # noqa: BLE001 - say where it stopped; the batch was rolled back
            raise click.ClickException(runner.stopped_message(
                f"{type(error).__name__}: {error}", position["row"], dry_run)) from error
    click.echo(("Dry run, nothing saved: " if dry_run else "")
               + f"{totals['created']} created, {totals['updated']} updated, {totals['unchanged']} unchanged, "
               f"{len(failures)} failed.")
    for failure in failures[:20]:
        click.echo(f"  row {failure.row}" + (f", {failure.column}" if failure.column else "") + f": {failure.message}")
    if len(failures) > 20:
        click.echo(f"  … and {len(failures) - 20} more")
    if failed_rows and failures:
        with open(failed_rows, "w", encoding="utf-8", newline="") as handle:
            for text in export.failed_rows_csv(fmt.header, iter(failures)):
                handle.write(text)
        click.echo(f"Failed rows written to {failed_rows}")
    if failures:
        sys.exit(1)


def _import_command(kind: str) -> click.Command:
    @click.command(kind, help=f"Import {kind} from a CSV file (UTF-8, Windows-1252 or UTF-16; comma, semicolon or tab).")
    @click.argument("path", type=click.Path(exists=True, dir_okay=False))
    @click.option("--map", "overrides", multiple=True, metavar="COLUMN=FIELD",
                  help="Map a column (header name or 1-based number) to a field; FIELD '-' ignores it.")
    @click.option("--decimal", type=click.Choice([values.COMMA, values.POINT]), default=None,
                  help="Decimal separator of amounts (default: guessed from the file).")
    @click.option("--dry-run", is_flag=True, help="Check every row, save nothing.")
    @click.option("--batch-size", default=runner.BATCH_ROWS, show_default=True, help="Rows per transaction.")
    @click.option("--failed-rows", type=click.Path(dir_okay=False, writable=True), default=None,
                  help="Write the rows that failed to this CSV file.")
    @with_appcontext
    def command(path, overrides, decimal, dry_run, batch_size, failed_rows):
        _import(kind, path, overrides, decimal, dry_run, batch_size, failed_rows)

    return command


def _export_command(kind: str) -> click.Command:
    @click.command(kind, help=f"Export all {kind} as CSV, in the columns `import {kind}` reads ('-': stdout).")
    @click.argument("path", type=click.Path(dir_okay=False, allow_dash=True))
    @with_appcontext
    def command(path):
        produce = export.customers_csv if kind == fields.CUSTOMERS else export.documents_csv
        handle = sys.stdout if path == "-" else open(path, "w", encoding="utf-8", newline="")
        try:
            for text in produce():
                handle.write(text)
        finally:
            if handle is not sys.stdout:
                handle.close()

    return command


def register(app: Flask) -> None:
    importer = click.Group("import", help="Import customers or documents from CSV.")
    exporter = click.Group("export", help="Export customers or documents as CSV.")
    for kind in fields.KINDS:
        importer.add_command(_import_command(kind))
        exporter.add_command(_export_command(kind))
    app.cli.add_command(importer)
    app.cli.add_command(exporter)
