"""Sniff a CSV's dialect from its first 64 KiB: encoding, delimiter, quote character, header.

- Encoding: byte-order mark, else UTF-8 if the head decodes, else Windows-1252/Latin-1
  (see :func:`engine.data.sniff.detect_encoding`).
- Delimiter: of ``, \\t ; |`` the one that splits the first 200 records into the same number
  of fields (more than one) most consistently; a ``.tsv`` name puts the tab first. A file no
  candidate splits is a one-column table.
- Quote character: ``"`` unless the sample has no double quotes and fields are wrapped in
  single quotes.
- Header: the first record is a header when, in a column whose values below are numbers (or
  dates), its cell is not; it is data when its cells are numbers over numeric columns. In an
  all-text table the first record is a header unless one of its cells also occurs as a value
  in its own column. Empty header cells become ``column_N`` (unique among the names); a
  duplicated name is an error.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass, replace

from engine.data.names import name_blank_columns, unique_name
from engine.data.sniff import detect_encoding
from engine.errors import InputError

_CANDIDATES = (",", "\t", ";", "|")
_SAMPLE_RECORDS = 200
_NUMBER_OR_DATE = re.compile(
    r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$|^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$"
)


@dataclass(frozen=True)
class CsvDialect:
    """How to parse one CSV payload."""

    delimiter: str
    quotechar: str
    has_header: bool
    encoding: str
    columns: tuple[str, ...]

    @property
    def arrow_encoding(self) -> str:
        """The encoding name for pyarrow, which skips a UTF-8 BOM by itself."""
        return "utf8" if self.encoding in ("utf-8", "utf-8-sig", "utf_8", "utf8") else self.encoding

    @property
    def row_index(self) -> str:
        """Name of the helper column holding each record's data-row number: one that is not
        among the file's own columns, whatever they are called."""
        return unique_name("__doppel_row", self.columns)

    def with_encoding(self, encoding: str) -> CsvDialect:
        return replace(self, encoding=encoding)


def _records(text: str, delimiter: str, quotechar: str, complete: bool) -> list[list[str]]:
    # newline="": records end at \n, \r\n or a lone \r (old Mac files), never inside quotes
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar=quotechar)
    rows: list[list[str]] = []
    try:
        for row in reader:
            if row:
                rows.append(row)
            if len(rows) > _SAMPLE_RECORDS:
                break
    except csv.Error:
        pass  # a broken record in the sample: judge on what parsed, the parser reports it later
    if not complete and len(rows) <= _SAMPLE_RECORDS and len(rows) > 1:
        rows = rows[:-1]  # the last record of a cut sample may be partial
    return rows[:_SAMPLE_RECORDS]


_QUOTE_OR_NEWLINE = re.compile(rb'["\r\n]')


def header_end(head: bytes) -> int | None:
    """Offset just past the first record's line ending (``\n``, ``\r\n`` or ``\r``, outside
    double quotes), or None when ``head`` holds no complete first record."""
    quoted = False
    for match in _QUOTE_OR_NEWLINE.finditer(head):
        if match.group() == b'"':
            quoted = not quoted
        elif not quoted:
            end = match.end()
            return end + 1 if head[end - 1 : end + 1] == b"\r\n" else end
    return None


def _consistency(rows: list[list[str]]) -> tuple[float, int]:
    if not rows:
        return 0.0, 0
    counts = Counter(len(row) for row in rows)
    width, hits = counts.most_common(1)[0]
    return hits / len(rows), width


def _pick_delimiter(text: str, candidates: tuple[str, ...], complete: bool) -> str:
    best: tuple[bool, float, int] | None = None
    chosen = candidates[0]
    for delimiter in candidates:
        consistency, width = _consistency(_records(text, delimiter, '"', complete))
        score = (width > 1, round(consistency, 3), width)
        if best is None or score > best:
            best, chosen = score, delimiter
    if best is not None and not best[0]:
        return ","  # no candidate splits the records: a one-column table
    return chosen


def _pick_quotechar(text: str, delimiter: str) -> str:
    if '"' in text:
        return '"'
    d = re.escape(delimiter)
    single = re.search(rf"(?:^|{d})'[^'\n]*'(?:{d}|$)", text, flags=re.MULTILINE)
    return "'" if single else '"'


def _looks_like_data(value: str) -> bool:
    return bool(_NUMBER_OR_DATE.match(value.strip()))


def _has_header(rows: list[list[str]]) -> bool:
    first, body = rows[0], rows[1:]
    if not body:
        return not any(_looks_like_data(cell) for cell in first)
    header_votes = data_votes = 0
    for j, cell in enumerate(first):
        values = [row[j].strip() for row in body if j < len(row) and row[j].strip()]
        if not values:
            continue
        numeric_below = sum(_looks_like_data(v) for v in values) >= 0.9 * len(values)
        if not numeric_below:
            continue
        if _looks_like_data(cell):
            data_votes += 1
        elif cell.strip():
            header_votes += 1
    if header_votes or data_votes:
        return header_votes >= data_votes
    for j, cell in enumerate(first):
        name = cell.strip()
        if name and any(j < len(row) and row[j].strip() == name for row in body):
            return False
    return True


def _column_names(header: list[str], label: str) -> tuple[str, ...]:
    names = name_blank_columns([cell.strip() for cell in header])
    seen: dict[str, int] = {}
    for j, name in enumerate(names):
        if name in seen:
            raise InputError(
                f"{label}: the header names column '{name}' twice (columns {seen[name] + 1} and {j + 1}); "
                "rename one of them"
            )
        seen[name] = j
    return tuple(names)


def sniff_dialect(
    head: bytes,
    *,
    complete: bool,
    label: str,
    name: str,
    delimiter: str | None = None,
    encoding: str | None = None,
    tab_hint: bool = False,
) -> CsvDialect:
    """Sniff the dialect of a CSV payload from its first bytes (``complete``: that is all of it).

    Raises :class:`InputError` for an empty payload and for duplicated header names.
    """
    chosen_encoding = encoding or detect_encoding(head, complete=complete)
    text = head.decode(chosen_encoding, errors="replace").lstrip("\ufeff")
    if not text.strip():
        raise InputError(f"{label} is empty: there is no header and no data")
    if delimiter is None:
        candidates = ("\t", ",", ";", "|") if tab_hint or name.lower().endswith((".tsv", ".tab")) else _CANDIDATES
        delimiter = _pick_delimiter(text, candidates, complete)
    quotechar = _pick_quotechar(text, delimiter)
    rows = _records(text, delimiter, quotechar, complete)
    if not rows:
        raise InputError(f"{label} is empty: there is no header and no data")
    has_header = _has_header(rows)
    if has_header:
        columns = _column_names(rows[0], label)
    else:
        _, width = _consistency(rows)
        columns = tuple(f"column_{j + 1}" for j in range(width))
    return CsvDialect(
        delimiter=delimiter,
        quotechar=quotechar,
        has_header=has_header,
        encoding=chosen_encoding,
        columns=columns,
    )
