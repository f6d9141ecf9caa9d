"""Reading real CSV exports without loading them whole.

A file arrives as an iterable of byte chunks (an upload spooled to disk, the chunks stored
with an import job, a file on the CLI). Exports come from spreadsheets and accounting
packages: UTF-8 with or without a byte order mark, Windows-1252 (Excel's "CSV" on a
Western European Windows) or UTF-16 with its byte order mark (Excel's "Unicode Text"); commas, or semicolons where the decimal separator is a comma.

`inspect()` makes one streaming pass: it decides the encoding (UTF-16 by its byte order
mark, UTF-8 if every byte decodes, else Windows-1252), sniffs the delimiter from the first lines, counts the rows and stops at
the first broken quote with its line number. `rows()` then yields (row number, cells) with
the row number as a spreadsheet shows it (the header is row 1).
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

from models.services.errors import DomainError

Chunks = Callable[[], Iterable[bytes]]  # a fresh iterator over the file's bytes, each call
SAMPLE_BYTES = 64 * 1024
DELIMITERS = (";", ",", "\t", "|")
# A field longer than this is an unclosed quote that swallowed the rest of the file (no
# real cell is 100,000 characters), reported as such rather than read on to the end.
FIELD_LIMIT = 100_000
BOM = codecs.BOM_UTF8


@dataclass(frozen=True, slots=True)
class FileFormat:
    encoding: str  # "utf-8-sig" (strips a BOM if there is one), "utf-16" or "cp1252"
    delimiter: str
    header: list[str]
    rows: int  # data rows, the header not counted


class _ChunkStream(io.RawIOBase):
    """Byte chunks as a readable binary stream, for io.TextIOWrapper."""

    def __init__(self, chunks: Iterable[bytes]):
        self._chunks = iter(chunks)
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        while not self._buffer:
            try:
                self._buffer = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


def text_stream(chunks: Iterable[bytes], encoding: str) -> io.TextIOWrapper:
    # newline="" as the csv module wants: quoted fields keep their own line breaks.
    return io.TextIOWrapper(io.BufferedReader(_ChunkStream(chunks), 256 * 1024), encoding=encoding,
                            errors="strict", newline="")


def detect_encoding(chunks: Iterable[bytes]) -> str:
    """UTF-16 when the file starts with its byte order mark (Excel's "Unicode Text"), UTF-8
    when the whole file decodes as UTF-8, else Windows-1252 (which decodes anything but
    five bytes; those are refused). Streams: one chunk in memory at a time."""
    chunks = iter(chunks)
    start = b""
    for chunk in chunks:
        start += chunk
        if len(start) >= 2:
            break
    if start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"  # the codec reads the mark, takes its byte order and strips it
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(start)
        for chunk in chunks:
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
        return "utf-8-sig"
    except UnicodeDecodeError:
        return "cp1252"


def sniff_delimiter(sample: str) -> str:
    """The delimiter of the first lines: csv.Sniffer, restricted to the usual ones, or else
    the one that occurs most often in the header line."""
    try:
        return csv.Sniffer().sniff(sample, delimiters="".join(DELIMITERS)).delimiter
    except csv.Error:
        first = sample.splitlines()[0] if sample else ""
        counts = {d: first.count(d) for d in DELIMITERS}
        best = max(counts, key=counts.get)
        return best if counts[best] else ","


def _reader(stream, delimiter: str):
    csv.field_size_limit(max(csv.field_size_limit(), FIELD_LIMIT + 1))
    return csv.reader(stream, delimiter=delimiter, quotechar='"', doublequote=True, strict=True)


def broken_file(line: int, detail: str) -> DomainError:
    return DomainError(str(_l("Line %(line)s: the file cannot be read as CSV (%(detail)s). A quote that is "
                              "opened but never closed is the usual cause; fix the file and upload it again.",
                              line=line, detail=detail)), field="file")


def _records(stream, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """(line where the record starts, cells), with clear errors for broken quotes."""
    reader = _reader(stream, delimiter)
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise broken_file(start, str(error)) from None
        if any(len(cell) > FIELD_LIMIT for cell in cells):
            raise broken_file(start, str(_l("a cell runs on for more than %(n)s characters", n=FIELD_LIMIT)))
        yield start, cells


def inspect(open_chunks: Chunks) -> FileFormat:
    """Encoding, delimiter, header and row count in two streaming passes; a DomainError
    (field "file") for an empty file, undecodable bytes or a broken quote."""
    encoding = detect_encoding(open_chunks())
    try:
        with text_stream(open_chunks(), encoding) as stream:
            sample = stream.read(SAMPLE_BYTES)
        if not sample.strip():
            raise DomainError(str(_l("The file is empty.")), field="file")
        delimiter = sniff_delimiter(sample)
        header: list[str] | None = None
        rows = 0
        with text_stream(open_chunks(), encoding) as stream:
            for _line, cells in _records(stream, delimiter):
                if header is None:
                    header = [c.strip() for c in cells]
                elif any(c.strip() for c in cells):
                    rows += 1
    except UnicodeDecodeError:
        raise DomainError(str(_l("The file is neither UTF-8 nor Windows-1252 text. Save it as CSV (UTF-8) "
                                 "and upload it again.")), field="file") from None
    if not header or not any(header):
        raise DomainError(str(_l("The first line must name the columns.")), field="file")
    return FileFormat(encoding=encoding, delimiter=delimiter, header=header, rows=rows)


def rows(open_chunks: Chunks, fmt: FileFormat, start_after: int = 0) -> Iterator[tuple[int, list[str]]]:
    """(row number, cells) for every non-blank data row after the header. Row numbers are
    a spreadsheet's (the header is row 1, blank rows count); rows up to `start_after` are
    skipped (a resumed job). Short rows are padded to the header's width."""
    width = len(fmt.header)
    number = 1
    with text_stream(open_chunks(), fmt.encoding) as stream:
        records = _records(stream, fmt.delimiter)
        next(records, None)  # the header
        for _line, cells in records:
            number += 1
            if number <= start_after or not any(c.strip() for c in cells):
                continue
            if len(cells) < width:
                cells = cells + [""] * (width - len(cells))
            yield number, cells


def preview(open_chunks: Chunks, fmt: FileFormat, limit: int = 5) -> list[list[str]]:
    out = []
    for _number, cells in rows(open_chunks, fmt):
        out.append(cells)
        if len(out) >= limit:
            break
    return out
