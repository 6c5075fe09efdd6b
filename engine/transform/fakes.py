"""Fake values for the personal-data kinds of ``engine.profiling.pii``: realistic, seeded, never real.

A column the profile says to fake (``TREATMENTS``) is not learned: the transformer keeps only
its ``FakeFormat`` (the kind, the most common shape of its values with a shared prefix such as
a country code, its null share) and draws new values on every inverse. No real value is
stored. Each kind is made so that a fake is of the same kind, and checks as such, but belongs
to nobody:

- ``email``: ``first.last123`` style local parts on the reserved example domains of RFC 2606
  (``example.com``, ``.org``, ``.net``), which never deliver mail;
- ``phone``: random digits in the column's most common shape, after its shared leading
  characters (at most ``PREFIX_DIGITS`` digits of it: a country or trunk code);
- ``credit_card``: the column's most common shape (13 to 19 digits), the issuer prefix
  ``CARD_PREFIX`` that processors' test cards use (4000 0000 0000 0002, ...), random digits and
  a Luhn check digit;
- ``iban``: the column's most common country code and shape, random BBAN characters and
  valid ISO 13616 mod-97 check digits;
- ``ip_address``: IPv4 in the documentation networks of RFC 5737 only (192.0.2.0/24,
  198.51.100.0/24, 203.0.113.0/24, hosts 1-254); IPv6 in the documentation prefix
  2001:db8::/32 of RFC 3849;
- ``person_name``: first and last names from the built-in lists below (a single-word column
  gets first names, or last names when its name says so), in the column's letter case;
- ``us_ssn``: the column's shape with area 900-999, which the SSA never issues (so the fakes
  no longer pass the profile's SSN rules: they are not SSNs). The profile drops SSNs; this is
  for a user who asks for fakes instead.

Everything is vectorised over rows (numpy code points or polars string expressions); the
loops run over character positions or word lists, never over rows. A common first or last
name may of course equal a real person's name: it is drawn from a public list, not from the
column, and is not linked to anything in the row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from engine.errors import ConfigError
from engine.profiling.checksums import luhn_remainder, mod97_remainder
from engine.transform.identifiers import common_prefix, most_common, value_shapes

KINDS = ("email", "phone", "credit_card", "iban", "ip_address", "person_name", "us_ssn")
# Kinds whose values may sit in an integer column (digits only).
INTEGER_KINDS = ("phone", "credit_card", "us_ssn")
EMAIL_DOMAINS = ("example.com", "example.org", "example.net")
CARD_PREFIX = "400000"
IPV4_NETWORKS = ("192.0.2.", "198.51.100.", "203.0.113.")
IPV6_PREFIX = "2001:db8:"
PREFIX_DIGITS = 3
# Shapes used when the column gives none (no values, an odd format, or a DP run that reads no row).
DEFAULT_SHAPES = {"phone": "999-999-9999", "credit_card": "9999999999999999", "iban": "AA99" + "9" * 18,
                  "us_ssn": "999-99-9999"}
DEFAULT_IBAN_COUNTRY = "DE"
_SHAPE_SAMPLE = 10_000
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8).astype(np.uint32)
_RANDOM = {"9": (10, ord("0")), "a": (26, ord("a")), "A": (26, ord("A"))}
_LAST_NAME_COLUMN = re.compile(r"(?i)(last|sur|family|maiden|l_?name)")

FIRST_NAMES = (
    "James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "William", "Elizabeth",
    "David", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Charles", "Karen",
    "Daniel", "Nancy", "Matthew", "Lisa", "Anthony", "Betty", "Mark", "Margaret", "Paul", "Sandra",
    "Steven", "Ashley", "Andrew", "Emily", "Kevin", "Donna", "Brian", "Michelle", "George", "Carol",
    "Edward", "Amanda", "Ronald", "Melissa", "Timothy", "Deborah", "Jason", "Stephanie", "Jeffrey", "Rebecca",
    "Ryan", "Laura", "Jacob", "Helen", "Gary", "Sharon", "Nicholas", "Cynthia", "Eric", "Kathleen",
    "Jonathan", "Amy", "Stephen", "Shirley", "Larry", "Angela", "Justin", "Anna", "Scott", "Ruth",
    "Brandon", "Brenda", "Frank", "Pamela", "Benjamin", "Nicole", "Gregory", "Katherine", "Samuel", "Virginia",
    "Raymond", "Catherine", "Patrick", "Christine", "Alexander", "Samantha", "Jack", "Debra", "Dennis", "Janet",
    "Jerry", "Rachel", "Tyler", "Carolyn", "Aaron", "Emma", "Jose", "Maria", "Adam", "Heather",
    "Lukas", "Sofia", "Mateo", "Lucia", "Hugo", "Chloe", "Luca", "Giulia", "Noah", "Olivia",
)
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
    "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
    "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores",
    "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts",
    "Gomez", "Phillips", "Evans", "Turner", "Diaz", "Parker", "Cruz", "Edwards", "Collins", "Reyes",
    "Stewart", "Morris", "Morales", "Murphy", "Cook", "Rogers", "Gutierrez", "Ortiz", "Morgan", "Cooper",
    "Peterson", "Bailey", "Reed", "Kelly", "Howard", "Ramos", "Kim", "Cox", "Ward", "Richardson",
    "Watson", "Brooks", "Chavez", "Wood", "James", "Bennett", "Gray", "Mendoza", "Ruiz", "Hughes",
    "Price", "Alvarez", "Castillo", "Sanders", "Patel", "Myers", "Long", "Ross", "Foster", "Jimenez",
    "Muller", "Schmidt", "Schneider", "Fischer", "Weber", "Rossi", "Russo", "Dubois", "Moreau", "Jansen",
)


@dataclass(frozen=True)
class FakeFormat:
    """How to make fakes for one column: no real value, only the kind and the shape of the values.

    ``shape``: the most common shape of the values (digit -> ``9``, lower-case letter -> ``a``,
    upper-case -> ``A``, anything else kept) for phone, card, IBAN and SSN columns. ``prefix``:
    a phone column's shared leading characters (at most ``PREFIX_DIGITS`` digits), an IBAN
    column's most common country code. ``style``: a name column's ``first``/``last``/``full``
    and letter case (``"full title"``), an IP column's ``v4``/``v6``. ``null_share``: the
    share of rows that come back null.
    """

    kind: str
    shape: str = ""
    prefix: str = ""
    style: str = ""
    null_share: float = 0.0

    @classmethod
    def fit(cls, kind: str, s: pl.Series, *, rng: np.random.Generator) -> FakeFormat:
        """The format of column ``s`` for ``kind``; reads the values' shapes, keeps none of them."""
        check_dtype(s.name, kind, s.dtype)
        null_share = s.null_count() / len(s) if len(s) else 0.0
        values = s.drop_nulls().cast(pl.String).str.strip_chars()
        values = values.filter(values != "")
        if len(values) > _SHAPE_SAMPLE:
            values = values.gather(rng.choice(len(values), size=_SHAPE_SAMPLE, replace=False))
        default = cls.default(kind, s.name)
        if len(values) == 0:
            return cls(kind, default.shape, default.prefix, default.style, null_share)
        if kind == "person_name":
            words = int(values.str.split(" ").list.len().mode().min())
            part = "full" if words > 1 else default.style.split()[0]
            upper, lower = values == values.str.to_uppercase(), values == values.str.to_lowercase()
            case = "upper" if upper.mean() > 0.5 else "lower" if lower.mean() > 0.5 else "title"
            return cls(kind, style=f"{part} {case}", null_share=null_share)
        if kind == "ip_address":
            return cls(kind, style="v6" if values.str.contains(":", literal=True).mean() > 0.5 else "v4",
                       null_share=null_share)
        if kind == "email":
            return cls(kind, null_share=null_share)
        shapes = value_shapes(values)
        shape = most_common(shapes)
        prefix = ""
        if kind == "phone":
            typical = values.filter(shapes == shape)
            prefix = _leading(common_prefix(str(typical.min()), str(typical.max())), PREFIX_DIGITS)
        elif kind == "iban":
            shape = shape.upper()
            compact = shape.replace(" ", "")
            countries = values.str.slice(0, 2).str.to_uppercase()
            countries = countries.filter(countries.str.contains(r"^[A-Z]{2}$"))
            plain = compact.startswith("AA99") and 15 <= len(compact) <= 34 and set(compact) <= {"A", "9"}
            if not plain or not len(countries):
                return cls(kind, default.shape, default.prefix, null_share=null_share)
            prefix = most_common(countries)
        elif kind == "credit_card":
            if not 13 <= shape.count("9") <= 19 or set(shape) - set("9 -"):
                shape = default.shape
        elif kind == "us_ssn":
            if shape.count("9") != 9 or set(shape) - set("9 -"):
                shape = default.shape
        return cls(kind, shape, prefix, null_share=null_share)

    @classmethod
    def default(cls, kind: str, column: str = "") -> FakeFormat:
        """The format used without reading a row (no values, or a DP run): a plain shape per kind."""
        check_kind(column, kind)
        if kind == "person_name":
            return cls(kind, style=f"{'last' if _LAST_NAME_COLUMN.search(column) else 'first'} title")
        if kind == "ip_address":
            return cls(kind, style="v4")
        if kind == "iban":
            return cls(kind, DEFAULT_SHAPES["iban"], DEFAULT_IBAN_COUNTRY)
        return cls(kind, DEFAULT_SHAPES.get(kind, ""))

    def generate(self, name: str, n: int, dtype: pl.DataType, rng: np.random.Generator) -> pl.Series:
        """``n`` fakes of ``dtype`` named ``name``, about ``null_share`` of them null, drawn from ``rng``."""
        if n == 0:
            return pl.Series(name, [], dtype=dtype)
        values = _MAKERS[self.kind](self, n, rng)
        missing = rng.random(n) < self.null_share
        out = pl.Series(name, values, dtype=pl.String)
        if missing.any():
            out = out.scatter(np.flatnonzero(missing), None)
        if dtype.is_integer():
            return out.str.replace_all(r"[^0-9]", "").cast(dtype)
        return out.cast(dtype)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "shape": self.shape, "prefix": self.prefix, "style": self.style,
                "null_share": self.null_share}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FakeFormat:
        return cls(kind=d["kind"], shape=d["shape"], prefix=d["prefix"], style=d["style"],
                   null_share=float(d["null_share"]))


def check_kind(column: str, kind: Any) -> None:
    """``ConfigError`` unless ``kind`` is one of ``KINDS``."""
    if kind not in KINDS:
        raise ConfigError(f"fake_columns[{column!r}] = {kind!r} is not a kind of personal data that can be faked; "
                          f"allowed: {', '.join(KINDS)}")


def check_dtype(column: str, kind: str, dtype: pl.DataType) -> None:
    """``ConfigError`` unless a column of ``dtype`` can hold fakes of ``kind``."""
    check_kind(column, kind)
    if isinstance(dtype, (pl.String, pl.Categorical)):
        return
    if dtype.is_integer() and kind in INTEGER_KINDS:
        return
    allowed = "a string column" + (" or an integer column" if kind in INTEGER_KINDS else "")
    raise ConfigError(f"column {column!r} has dtype {dtype}; fake {kind} values need {allowed}")


# -- makers, one per kind ------------------------------------------------------------------
def _emails(fmt: FakeFormat, n: int, rng: np.random.Generator) -> pl.Series:
    number = pl.Series(rng.integers(1, 10_000, n)).cast(pl.String)
    local = _pick(FIRST_NAMES, n, rng) + _pick((".", "_", ""), n, rng) + _pick(LAST_NAMES, n, rng) + number
    return local.str.to_lowercase() + "@" + _pick(EMAIL_DOMAINS, n, rng)


def _names(fmt: FakeFormat, n: int, rng: np.random.Generator) -> pl.Series:
    part, case = (fmt.style.split() + ["title"])[:2] if fmt.style else ("first", "title")
    if part == "full":
        out = _pick(FIRST_NAMES, n, rng) + " " + _pick(LAST_NAMES, n, rng)
    else:
        out = _pick(LAST_NAMES if part == "last" else FIRST_NAMES, n, rng)
    return out.str.to_uppercase() if case == "upper" else out.str.to_lowercase() if case == "lower" else out


def _ips(fmt: FakeFormat, n: int, rng: np.random.Generator) -> pl.Series:
    if fmt.style == "v6":
        return IPV6_PREFIX + _strings(_fill(":".join(["hhhh"] * 6), n, rng))
    return _pick(IPV4_NETWORKS, n, rng) + pl.Series(rng.integers(1, 255, n)).cast(pl.String)


def _phones(fmt: FakeFormat, n: int, rng: np.random.Generator) -> pl.Series:
    points = _fill(fmt.shape, n, rng)
    for i, char in enumerate(fmt.prefix):
        points[:, i] = ord(char)
    return _strings(points)


def _cards(fmt: FakeFormat, n: int, rng: np.random.Generator) -> pl.Series:
    points = _fill(fmt.shape, n, rng)
    digits = [i for i, c in enumerate(fmt.shape) if c == "9"]
    for i, char in zip(digits, CARD_PREFIX):
        points[:, i] = ord(char)
    d = points[:, digits].astype(np.int64) - 48
    d[:, -1] = 0
    points[:, digits[-1]] = 48 + (10 - luhn_remainder(d)) % 10
    return _strings(points)


def _ibans(fmt: FakeFormat, n: int, rng: np.random.Generator) -> pl.Series:
    points = _fill(fmt.shape, n, rng)
    places = [i for i, c in enumerate(fmt.shape) if c in _RANDOM]
    for i, char in zip(places, fmt.prefix + "00"):
        points[:, i] = ord(char)
    # ISO 13616: BBAN, country, "00" read as one number (letters as 10-35); check = 98 - that mod 97.
    check = 98 - mod97_remainder(points[:, places[4:] + places[:4]])
    points[:, places[2]] = 48 + check // 10
    points[:, places[3]] = 48 + check % 10
    return _strings(points)


def _ssns(fmt: FakeFormat, n: int, rng: np.random.Generator) -> pl.Series:
    points = _fill(fmt.shape, n, rng)
    points[:, fmt.shape.index("9")] = ord("9")  # area 900-999: never issued
    return _strings(points)


_MAKERS = {"email": _emails, "person_name": _names, "ip_address": _ips, "phone": _phones,
           "credit_card": _cards, "iban": _ibans, "us_ssn": _ssns}


# -- helpers -------------------------------------------------------------------------------
def _pick(words: tuple[str, ...], n: int, rng: np.random.Generator) -> pl.Series:
    return pl.Series(words, dtype=pl.String).gather(rng.integers(0, len(words), n))


def _fill(shape: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """Code points (n x len(shape)): a random character where the shape has 9/a/A/h, the shape's own elsewhere."""
    points = np.empty((n, len(shape)), dtype=np.uint32)
    for i, char in enumerate(shape):
        if char in _RANDOM:
            radix, base = _RANDOM[char]
            points[:, i] = base + rng.integers(0, radix, n)
        elif char == "h":
            points[:, i] = _HEX[rng.integers(0, 16, n)]
        else:
            points[:, i] = ord(char)
    return points


def _strings(points: np.ndarray) -> pl.Series:
    n, width = points.shape
    if n == 0 or width == 0:
        return pl.Series([""] * n, dtype=pl.String)
    return pl.Series(np.ascontiguousarray(points).view(f"<U{width}")[:, 0], dtype=pl.String)


def _leading(prefix: str, max_digits: int) -> str:
    """``prefix`` cut before its ``max_digits + 1``-th digit (a country or trunk code, never a number)."""
    seen = 0
    for i, char in enumerate(prefix):
        if char.isdigit():
            seen += 1
            if seen > max_digits:
                return prefix[:i]
    return prefix


__all__ = ["CARD_PREFIX", "EMAIL_DOMAINS", "KINDS", "FakeFormat", "check_dtype", "check_kind"]
