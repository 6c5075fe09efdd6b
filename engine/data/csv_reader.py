"""Parse a CSV payload into batches of all-text polars frames, and find line numbers.

Parsing is Arrow's streaming CSV reader: fast, bounded memory, and strict about ragged rows
(a record with more or fewer fields than the header is an error, never silently padded). Every
cell is kept as text here — cleaning and type inference come after, on the whole table or on a
sample — and every batch carries the data-row number of each record in a helper column
(``dialect.row_index``, named apart from the file's own columns), so that a later error can
name the line it came from. The header is skipped as a parsed record, so a quoted header cell
holding a newline is one column name, never a made-up first row.

Arrow does not report line numbers when quoted fields may hold newlines, so on an error
:class:`CsvLocator` re-reads the payload with Python's ``csv`` module, which counts physical
lines, to say exactly which line is wrong. That second pass runs only on the error path.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator

import polars as pl

from engine.data.csv_dialect import CsvDialect
from engine.data.limits import MAX_RECORD_BYTES
from engine.data.payload import Payload
from engine.errors import InputError, LimitExceededError

_FIRST_BLOCK = 1 << 20
_STRADDLING = "straddling"
# Python's csv module refuses fields over 128 KiB by default; the error paths re-read with it.
csv.field_size_limit(max(csv.field_size_limit(), MAX_RECORD_BYTES))

_RAGGED = re.compile(r"Expected (\d+) columns, got (\d+)")


class NotDecodableError(InputError):
    """The payload is not valid text in the dialect's encoding (the reader may retry another)."""


class CsvLocator:
    """Maps data-row numbers to physical line numbers by re-reading the payload (error paths)."""

    def __init__(self, payload: Payload, dialect: CsvDialect) -> None:
        self._payload = payload
        self._dialect = dialect

    def _records(self, *, strict: bool) -> Iterator[tuple[int, int, list[str]]]:
        """(data-row number, first line, fields) of each data record; blank lines are skipped."""
        with self._payload.open() as raw:
            text = io.TextIOWrapper(raw, encoding=self._dialect.encoding, errors="replace", newline="")
            reader = csv.reader(
                text,
                delimiter=self._dialect.delimiter,
                quotechar=self._dialect.quotechar,
                strict=strict,
            )
            previous_line = 0
            header_pending = self._dialect.has_header
            row = 0
            while True:
                try:
                    record = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    start = previous_line + 1
                    if "end of data" in str(exc):
                        raise InputError(
                            f"{self._payload.label}: line {start:,} opens a quoted field "
                            f"({self._dialect.quotechar}) that is never closed"
                        ) from None
                    raise InputError(f"{self._payload.label}: line {reader.line_num:,}: malformed quoting ({exc})") from None
                start, previous_line = previous_line + 1, reader.line_num
                if not record:
                    continue
                if header_pending:
                    header_pending = False
                    continue
                yield row, start, record
                row += 1

    def first_ragged(self) -> tuple[int, int] | None:
        """(line, number of fields) of the first record whose width differs from the header."""
        expected = len(self._dialect.columns)
        for _, line, record in self._records(strict=True):
            if len(record) != expected:
                return line, len(record)
        return None

    def lines_of(self, rows: Iterable[int]) -> dict[int, int]:
        """First physical line of each of the given data rows (0-based row numbers)."""
        wanted = set(rows)
        found: dict[int, int] = {}
        if not wanted:
            return found
        last = max(wanted)
        for row, line, _ in self._records(strict=False):
            if row in wanted:
                found[row] = line
            if row >= last:
                break
        return found

    def where(self, row: int) -> str:
        """'line N' for a data row, as error messages say it."""
        line = self.lines_of([row]).get(row)
        return f"line {line:,}" if line is not None else f"data row {row + 1:,}"

    def first_undecodable_line(self, encoding: str) -> tuple[int, int, int] | None:
        """(line, column, byte) of the first byte that is not valid in ``encoding``."""
        with self._payload.open() as raw:
            for number, line in enumerate(raw, start=1):
                try:
                    line.decode(encoding)
                except UnicodeDecodeError as exc:
                    if number == 1 and line.startswith(b"\xef\xbb\xbf"):
                        continue
                    return number, exc.start + 1, line[exc.start]
        return None


def _ragged_error(payload: Payload, dialect: CsvDialect, message: str) -> InputError:
    expected = len(dialect.columns)
    located = CsvLocator(payload, dialect).first_ragged()
    basis = "the header" if dialect.has_header else "the first line"
    if located is None:
        return InputError(f"{payload.label}: ragged rows ({message.strip()}); expected {expected} fields as in {basis}")
    line, found = located
    return InputError(
        f"{payload.label}: line {line:,} has {found} field{'s' if found != 1 else ''}, "
        f"expected {expected} as in {basis} (delimiter {dialect.delimiter!r})"
    )


def _translate_arrow_error(exc: Exception, payload: Payload, dialect: CsvDialect) -> InputError:
    message = str(exc)
    if _RAGGED.search(message):
        return _ragged_error(payload, dialect, message)
    if "UTF8" in message or "utf8" in message.lower() or "decode" in message.lower():
        return NotDecodableError(f"{payload.label}: not valid {dialect.encoding} text")
    return InputError(f"{payload.label}: could not parse as CSV: {message.splitlines()[0] if message else exc}")


def csv_string_batches(payload: Payload, dialect: CsvDialect) -> Iterator[pl.DataFrame]:
    """Batches of the payload's data records, every column as text, plus ``dialect.row_index``.

    The header is skipped as one parsed record (a quoted header cell may hold a newline).
    Arrow parses in blocks and a record must fit in one: a file with a record longer than the
    first block (1 MiB) is parsed again with blocks four times larger, the rows already
    produced skipped, up to :data:`~engine.data.limits.MAX_RECORD_BYTES`, past which it is a
    :class:`~engine.errors.LimitExceededError` naming that limit.

    Raises :class:`InputError` naming the line of the first ragged record or unclosed quote,
    :class:`NotDecodableError` when the bytes are not valid in the dialect's encoding, and lets
    :class:`~engine.errors.LimitExceededError` from a capped decompressor through.
    """
    import pyarrow as pa

    block = _FIRST_BLOCK
    produced = 0
    while True:
        try:
            for frame in _parse(payload, dialect, block_size=block, skip=produced):
                produced += frame.height
                yield frame
            return
        except _BlockTooSmall:
            if block >= MAX_RECORD_BYTES:
                raise _too_long(payload) from None
            block = min(block * 4, MAX_RECORD_BYTES)
        except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError) as exc:
            raise _translate_arrow_error(exc, payload, dialect) from None


def _too_long(payload: Payload) -> LimitExceededError:
    return LimitExceededError(
        f"{payload.label}: a CSV record (one row) is longer than {MAX_RECORD_BYTES:,} bytes, "
        "the longest the reader accepts (MAX_RECORD_BYTES); is a quote left open?"
    )


def _check_record_lengths(frame: pl.DataFrame, payload: Payload) -> None:
    longest = frame.select(pl.sum_horizontal(pl.all().str.len_bytes()).max()).item()
    if longest is not None and longest > MAX_RECORD_BYTES:
        raise _too_long(payload)


class _BlockTooSmall(Exception):
    """Arrow found a record longer than its block size."""


def _parse(payload: Payload, dialect: CsvDialect, *, block_size: int, skip: int) -> Iterator[pl.DataFrame]:
    """One pass of Arrow's streaming reader, skipping the first ``skip`` data records."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    columns = list(dialect.columns)
    read_options = pacsv.ReadOptions(
        column_names=columns,
        skip_rows_after_names=1 if dialect.has_header else 0,
        encoding=dialect.arrow_encoding,
        block_size=block_size,
        use_threads=True,
    )
    parse_options = pacsv.ParseOptions(
        delimiter=dialect.delimiter,
        quote_char=dialect.quotechar,
        double_quote=True,
        newlines_in_values=True,
        ignore_empty_lines=True,
    )
    convert_options = pacsv.ConvertOptions(
        column_types={name: pa.string() for name in columns},
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
        null_values=[],
        check_utf8=True,
    )
    stream = None
    try:
        source = payload.local_path
        if source is None:
            stream = payload.open()
            source = stream
        try:
            reader = pacsv.open_csv(
                source,
                read_options=read_options,
                parse_options=parse_options,
                convert_options=convert_options,
            )
            offset = 0
            for batch in reader:
                start = offset
                offset += batch.num_rows
                if offset <= skip:
                    continue
                frame = pl.from_arrow(batch)
                assert isinstance(frame, pl.DataFrame)
                if block_size >= MAX_RECORD_BYTES:  # Arrow lets the last block run long: check
                    _check_record_lengths(frame, payload)
                frame = frame.with_row_index(dialect.row_index, offset=start)
                if start < skip:
                    frame = frame.slice(skip - start)
                yield frame
        except pa.ArrowInvalid as exc:
            if _STRADDLING in str(exc):
                raise _BlockTooSmall from None
            raise
    finally:
        if stream is not None:
            stream.close()
