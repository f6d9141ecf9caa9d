"""CSV import and export of customers and documents (issue #18).

- `reading`: real exports streamed from byte chunks (encoding, delimiter, broken quotes);
- `values`: decimal comma or point, day-first dates, the formula-safe export cell;
- `fields`: what a column can hold, the guess from header names, rows to intake records;
- `runner`: batches through models.services.intake, one transaction per batch;
- `export`: customers and documents in the columns the import reads.
"""
