"""Decide what a byte source holds: compression, table format, text encoding, or plain binary.

Order of evidence: an explicit ``format=`` wins; then magic bytes for the binary formats
(Parquet ``PAR1``, gzip ``1f 8b``, zstd ``28 b5 2f fd``), which cannot be mistaken; then the file
extension; last the first non-space character (``[`` JSON array, ``{`` NDJSON) with CSV as the
default. Text that is not text (NUL bytes, a ZIP or PDF signature) is refused with a message
saying what it looks like, so a workbook or an image renamed ``.csv`` gets a useful answer;
UTF-16 text saved without a byte-order mark (zero bytes in alternate positions) is text, and
is decoded as such.
"""

from __future__ import annotations

import codecs

from engine.errors import ConfigError, InputError

FORMATS = ("csv", "tsv", "parquet", "json", "ndjson")
_FORMAT_ALIASES = {"jsonl": "ndjson", "parq": "parquet", "txt": "csv", "tab": "tsv"}

_COMPRESSION_SUFFIXES = {".gz": "gzip", ".gzip": "gzip", ".zst": "zstd", ".zstd": "zstd"}
_FORMAT_SUFFIXES = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".json": "json",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
}

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
PARQUET_MAGIC = b"PAR1"

# Signatures of common non-table files, to say what an upload really is.
_BINARY_SIGNATURES = (
    (b"PK\x03\x04", "a ZIP archive (an .xlsx workbook is one: export it as CSV)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Office document (.xls): export it as CSV"),
    (b"%PDF", "a PDF document"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x7fELF", "an executable"),
    (b"BZh", "a bzip2 archive (decompress it, or recompress with gzip or zstd)"),
    (b"\xfd7zXZ\x00", "an xz archive (decompress it, or recompress with gzip or zstd)"),
    (b"SQLite format 3\x00", "an SQLite database (read its tables through a database URL)"),
)

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def normalise_format(fmt: str | None) -> str | None:
    """Validate a user-given ``format=``; ConfigError lists the accepted values."""
    if fmt is None:
        return None
    key = fmt.lower().lstrip(".")
    key = _FORMAT_ALIASES.get(key, key)
    if key not in FORMATS:
        raise ConfigError(f"format={fmt!r} is not supported; use one of {', '.join(FORMATS)} (or None to detect)")
    return key


def compression_from_magic(head: bytes) -> str | None:
    """'gzip' or 'zstd' when ``head`` starts with their magic bytes, else None."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    return None


def split_name(name: str) -> tuple[str | None, str | None]:
    """(format, compression) suggested by a file name such as ``batting.csv.gz``."""
    lower = name.lower()
    compression = None
    for suffix, kind in _COMPRESSION_SUFFIXES.items():
        if lower.endswith(suffix):
            compression = kind
            lower = lower[: -len(suffix)]
            break
    for suffix, fmt in _FORMAT_SUFFIXES.items():
        if lower.endswith(suffix):
            return fmt, compression
    return None, compression


def decide_format(*, explicit: str | None, name: str, payload_head: bytes, label: str) -> str:
    """The table format of the (already decompressed) payload whose first bytes are given."""
    by_name, _ = split_name(name)
    if payload_head.startswith(PARQUET_MAGIC):
        if explicit not in (None, "parquet"):
            raise InputError(f"{label} is a Parquet file (it starts with PAR1), not {explicit}")
        return "parquet"
    if explicit == "parquet" or (explicit is None and by_name == "parquet"):
        raise InputError(f"{label} is not a Parquet file: it does not start with the PAR1 magic bytes")
    if explicit is not None:
        return explicit
    if by_name is not None:
        return by_name
    first = payload_head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if first == b"[":
        return "json"
    if first == b"{":
        return "ndjson"
    return "csv"


def describe_binary(head: bytes) -> str | None:
    """What ``head`` looks like when it is not text (e.g. 'a ZIP archive'); None for text."""
    if not head:
        return None
    for signature, description in _BINARY_SIGNATURES:
        if head.startswith(signature):
            return description
    if any(head.startswith(bom) for bom, _ in _BOMS):
        return None
    sample = head[:8192]
    if utf16_without_bom(sample) is not None:
        return None
    if b"\x00" in sample:
        return "binary data (it contains NUL bytes)"
    control = sum(1 for byte in sample if byte < 0x20 and byte not in (0x09, 0x0A, 0x0C, 0x0D))
    if control > 0.05 * len(sample):
        return "binary data (it is full of control bytes)"
    return None


def refuse_binary(head: bytes, *, label: str, fmt: str) -> None:
    """InputError when a text format's payload is binary, naming what it looks like."""
    description = describe_binary(head)
    if description is not None:
        raise InputError(
            f"{label} is not a {fmt.upper()} text file: it looks like {description}. "
            "Doppel reads CSV/TSV, Parquet, JSON and NDJSON, plain or gzip/zstd compressed"
        )


def utf16_without_bom(sample: bytes) -> str | None:
    """'utf-16-le' or 'utf-16-be' when ``sample`` is UTF-16 text without a byte-order mark.

    Text that is mostly ASCII, written as UTF-16, has a zero byte in every other position
    (after each character in little-endian, before it in big-endian) and almost none in the
    others, and decodes as UTF-16 to printable text: that pattern, not "it holds NUL bytes",
    tells it from binary data.
    """
    sample = sample[: len(sample) - len(sample) % 2]
    if len(sample) < 4:
        return None
    even, odd = sample[0::2], sample[1::2]
    zero_even, zero_odd = even.count(0) / len(even), odd.count(0) / len(odd)
    if zero_odd >= 0.5 and zero_even <= 0.01:
        codec = "utf-16-le"
    elif zero_even >= 0.5 and zero_odd <= 0.01:
        codec = "utf-16-be"
    else:
        return None
    try:
        text = sample.decode(codec)
    except UnicodeDecodeError as exc:
        if exc.end < len(sample) - 2:  # a surrogate pair cut at the end of the sample is fine
            return None
        text = sample[: exc.start].decode(codec)
    control = sum(1 for char in text if ord(char) < 0x20 and char not in "\t\n\x0c\r")
    if control > 0.05 * max(len(text), 1):  # small 16-bit integers, not text
        return None
    return codec


def detect_encoding(head: bytes, *, complete: bool) -> str:
    """Python codec name for a text payload, decided from its first bytes.

    A byte-order mark decides (UTF-8/16/32); then UTF-16 without a byte-order mark, told by
    its zero bytes in alternate positions (:func:`utf16_without_bom`). Otherwise UTF-8 when the head decodes as UTF-8
    (a multi-byte character cut at the end of an incomplete head is allowed); otherwise
    Windows-1252 when the head uses its 0x80-0x9F printable range, else Latin-1, which
    decodes any byte.
    """
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return encoding
    utf16 = utf16_without_bom(head[:8192])
    if utf16 is not None:
        return utf16
    try:
        head.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if not complete and exc.end >= len(head) - 3 and exc.reason == "unexpected end of data":
            return "utf-8"
    if any(0x80 <= byte <= 0x9F for byte in head):
        try:
            head.decode("cp1252")
            return "cp1252"
        except UnicodeDecodeError:
            pass
    return "latin-1"


def check_encoding_name(encoding: str | None) -> str | None:
    """Validate a user-given ``encoding=``; ConfigError when Python has no such codec."""
    if encoding is None:
        return None
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise ConfigError(f"encoding={encoding!r} is not a known text encoding (e.g. 'utf-8', 'latin-1', 'cp1252')") from None
