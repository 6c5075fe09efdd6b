"""Finding personal data in columns: value patterns and checksums, helped by column names.

Each detector measures the share of a column's checked (non-null) values that match; a column
is reported under the first kind, in ``PRECEDENCE`` order (most specific first), whose share
reaches ``PII_MIN_SHARE``. Checksums (Luhn for card numbers, mod-97 for IBANs, in
``checksums``) are computed vectorised with numpy over the candidate values. Digit-only phone
numbers, SSNs and postcodes in string columns and all person names need a column-name hint as
well, because bare numbers and capitalised words are far too common to be evidence on their own;
integer columns without a hint are held to the stricter rules of ``pii_integers``.

Every string and integer column is checked whatever its semantic type: a column holding two
card numbers is typed boolean (two values) and one holding a single e-mail address constant,
and both still hold personal data.
"""

from __future__ import annotations

import polars as pl

from engine.profiling import names, pii_integers
from engine.profiling.checksums import iban_valid, luhn_valid
from engine.profiling.results import PIIFinding

# Share of the checked non-null values that must match for a column to be reported.
PII_MIN_SHARE = 0.5
# Non-null values checked per column (taken from the seeded sample, so already random).
PII_MAX_VALUES = 20_000

__all__ = ["PII_MAX_VALUES", "PII_MIN_SHARE", "PRECEDENCE", "TREATMENTS", "detect", "hinted_kinds"]

PRECEDENCE = ("email", "iban", "credit_card", "us_ssn", "ip_address", "phone", "postcode", "person_name")

TREATMENTS = {
    "email": ("fake", "e-mail addresses identify people directly; replace them with fake addresses of the same shape"),
    "phone": ("fake", "phone numbers identify people directly; replace them with fake numbers of the same format"),
    "credit_card": ("fake", "card numbers are direct identifiers; replace them with fake Luhn-valid numbers"),
    "iban": ("fake", "bank account numbers identify people; replace them with fake IBANs with valid check digits"),
    "us_ssn": ("drop", "social security numbers identify people and carry no analytic value; drop the column"),
    "ip_address": ("fake", "IP addresses can identify people or households; replace them with fake addresses"),
    "postcode": (
        "keep",
        "a postcode is a coarse location worth keeping for analysis, but it is a quasi-identifier: "
        "rare codes are merged by the rare-category protection",
    ),
    "person_name": ("fake", "names identify people directly; replace them with fake names"),
}
_LABELS = {
    "email": "e-mail addresses",
    "phone": "phone numbers",
    "credit_card": "card numbers with a valid Luhn check digit",
    "iban": "IBANs with valid check digits",
    "us_ssn": "US social security numbers",
    "ip_address": "IP addresses",
    "postcode": "postcodes",
    "person_name": "person names",
}

# Name hints: a column name with one of these tokens (or token pairs) points at the kind.
_HINTS = {
    "email": {"email", "mail", "emailaddress"},
    "phone": {"phone", "tel", "telephone", "mobile", "cellphone", "cellnumber", "fax", "msisdn", "phonenumber"},
    "credit_card": {"card", "cc", "creditcard", "pan"},
    "iban": {"iban", "bankaccount"},
    "us_ssn": {"ssn", "socialsecurity", "socialsecuritynumber"},
    "ip_address": {"ip", "ipaddress", "ipv4", "ipv6"},
    "postcode": {"zip", "zipcode", "postcode", "postal", "plz", "postalcode"},
}
_NAME_WORDS = {"firstname", "lastname", "surname", "forename", "fname", "lname", "fullname", "givenname", "familyname"}
_NAME_QUALIFIERS = {
    "first", "last", "given", "family", "middle", "full", "maiden", "nick", "person", "customer", "client",
    "patient", "employee", "user", "contact", "player", "owner", "holder", "member", "student", "author",
    "driver", "passenger", "guest", "host", "manager", "mother", "father", "spouse", "applicant",
}

_EMAIL = r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$"
_IPV4_OCTET = r"(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = rf"^{_IPV4_OCTET}(\.{_IPV4_OCTET}){{3}}$"
_IPV6 = r"^(([0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}|([0-9A-Fa-f]{1,4}:){0,6}[0-9A-Fa-f]{0,4}::([0-9A-Fa-f]{1,4}:){0,6}[0-9A-Fa-f]{0,4})$"
_SSN_DASHED = r"^\d{3}-\d{2}-\d{4}$"
_PHONE_CHARS = r"^\+?[\d\s().-]+$"
_DATE_LIKE = r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}$"
_POSTCODE_PATTERNS = (
    r"^[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}$",  # United Kingdom
    r"^[A-Z]\d[A-Z] ?\d[A-Z]\d$",  # Canada
    r"^\d{4} ?[A-Z]{2}$",  # Netherlands
    r"^\d{5}-\d{4}$",  # US ZIP+4
)
_POSTCODE_HINTED = (r"^\d{3,5}$", r"^\d{3} \d{2}$", r"^\d{2}-\d{3}$", r"^\d{4}-\d{3}$")
_PERSON_NAME = r"^\p{Lu}[\p{L}'’.-]*(?:[\s-]+\p{L}[\p{L}'’.-]*){0,3}$"


def detect(sample: pl.DataFrame) -> list[PIIFinding]:
    """PII findings for the string and integer columns of the (unparsed) sample, whatever their semantic type."""
    findings: list[PIIFinding] = []
    schema = dict(sample.schema)
    hopeless = _hopeless_columns(sample, schema)
    for name, dtype in schema.items():
        if name in hopeless:
            continue
        if dtype == pl.String:
            values = sample.get_column(name).drop_nulls().head(PII_MAX_VALUES).str.strip_chars()
        elif dtype.is_integer():
            values = sample.get_column(name).drop_nulls().head(PII_MAX_VALUES).cast(pl.String)
        else:
            continue
        values = values.filter(values != "")
        if values.len() == 0:
            continue
        finding = _classify(name, values, is_integer=dtype.is_integer())
        if finding is not None:
            findings.append(finding)
    return findings


def _hopeless_columns(sample: pl.DataFrame, schema: dict[str, pl.DataType]) -> set[str]:
    """Columns without a name hint whose values cannot reach ``PII_MIN_SHARE`` for any kind.

    One select over every such column, so a table of thousands of columns is screened in one
    pass instead of running every detector on every column. The screen is a necessary
    condition, never a guess: without a name hint, every kind needs a value with ``@`` (e-mail),
    ``:`` (IPv6) or a digit and at least five characters (IBAN, card, SSN, IPv4, phone,
    postcode); an integer must be in a card number's range (13 digits or more) or, in a column
    with ``pii_integers.MIN_DISTINCT`` distinct values, in a phone number's or an SSN's.
    """
    exprs: list[pl.Expr] = []
    names_: list[str] = []
    for i, (name, dtype) in enumerate(schema.items()):
        if hinted_kinds(name):
            continue
        col = pl.col(name).drop_nulls().head(PII_MAX_VALUES)
        if dtype == pl.String:
            values = col.str.strip_chars()
            values = values.filter(values != "")
            possible = values.str.contains(":", literal=True) | (
                (values.str.len_chars() >= 5) & values.str.contains(r"[\d@]")
            )
        elif dtype.is_integer():
            values = col
            card, other = pii_integers.possible(col)
            enough = col.n_unique() >= pii_integers.MIN_DISTINCT
            possible = card | (other & enough)
        else:
            continue
        exprs += [possible.sum().alias(f"{i}|possible"), values.len().alias(f"{i}|n")]
        names_.append(f"{i}")
    if not exprs:
        return set()
    row = sample.select(exprs).row(0, named=True)
    by_index = list(schema)
    return {
        by_index[int(i)]
        for i in names_
        if row[f"{i}|n"] == 0 or row[f"{i}|possible"] < PII_MIN_SHARE * row[f"{i}|n"]
    }


def hinted_kinds(column: str) -> set[str]:
    """The PII kinds a column's name points at (tokens like ``email``, ``zip``, ``nameFirst``)."""
    toks = names.tokens(column)
    joined = "".join(toks)
    pairs = {a + b for a, b in zip(toks, toks[1:], strict=False)}
    words = set(toks) | pairs | {joined}
    kinds = {kind for kind, hints in _HINTS.items() if words & hints}
    if words & _NAME_WORDS or ("name" in toks and (len(toks) == 1 or set(toks) - {"name"} <= _NAME_QUALIFIERS)):
        kinds.add("person_name")
    return kinds


def _classify(name: str, values: pl.Series, *, is_integer: bool) -> PIIFinding | None:
    hints = hinted_kinds(name)
    n = values.len()
    for kind in PRECEDENCE:
        if is_integer and kind not in ("credit_card", "phone", "us_ssn", "postcode"):
            continue
        hinted = kind in hints
        if is_integer and not hinted and kind in pii_integers.MIN_SHARE:
            matched, min_share = pii_integers.count(kind, values), pii_integers.MIN_SHARE[kind]
        else:
            matched, min_share = _matches(kind, values, hinted=hinted, is_integer=is_integer), PII_MIN_SHARE
        if matched is None:
            continue
        share = matched / n
        if share >= min_share:
            treatment, why = TREATMENTS[kind]
            hint_note = "; the column name points the same way" if kind in hints else ""
            reason = f"{share:.1%} of {n:,} checked values are {_LABELS[kind]}{hint_note}: {why}"
            return PIIFinding(column=name, kind=kind, share=share, treatment=treatment, reason=reason)
    return None


def _matches(kind: str, values: pl.Series, *, hinted: bool, is_integer: bool) -> int | None:
    """How many values match the kind; None when the kind does not apply to this column."""
    if kind == "email":
        return int(values.str.contains(_EMAIL).sum())
    if kind == "ip_address":
        return int((values.str.contains(_IPV4) | (values.str.contains(_IPV6) & values.str.contains(":"))).sum())
    if kind == "us_ssn":
        return _count_ssn(values, hinted=hinted, is_integer=is_integer)
    if kind == "credit_card":
        return _count_cards(values)
    if kind == "iban":
        return _count_ibans(values)
    if kind == "phone":
        return _count_phones(values, hinted=hinted, is_integer=is_integer)
    if kind == "postcode":
        return _count_postcodes(values, hinted=hinted, is_integer=is_integer)
    if kind == "person_name":
        return int(values.str.contains(_PERSON_NAME).sum()) if hinted else None
    raise AssertionError(kind)


def _count_ssn(values: pl.Series, *, hinted: bool, is_integer: bool) -> int | None:
    if values.str.contains(_SSN_DASHED).sum() == 0 and not hinted:
        return 0
    digits = values.str.replace_all("-", "", literal=True)
    if is_integer:  # an integer has lost the leading zeros of areas 001-099
        digits = digits.str.pad_start(9, "0")
    shaped = values.str.contains(_SSN_DASHED)
    if hinted:
        shaped = shaped | digits.str.contains(r"^\d{9}$")
    # The SSA never issues area 000, 666 or 900-999, group 00 or serial 0000.
    return int((shaped & pii_integers.ssn_rules(digits)).sum())


def _count_cards(values: pl.Series) -> int:
    digits = values.str.replace_all(r"[ -]", "")
    shaped = values.str.contains(r"^[\d -]+$") & digits.str.contains(r"^\d{13,19}$")
    candidates = digits.filter(shaped)
    if candidates.len() == 0:
        return 0
    return int(luhn_valid(candidates).sum())



def _count_ibans(values: pl.Series) -> int:
    compact = values.str.replace_all(" ", "", literal=True).str.to_uppercase()
    candidates = compact.filter(compact.str.contains(r"^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$"))
    if candidates.len() == 0:
        return 0
    return int(iban_valid(candidates).sum())



def _count_phones(values: pl.Series, *, hinted: bool, is_integer: bool) -> int | None:
    if is_integer and not hinted:
        return None
    n_digits = values.str.count_matches(r"\d")
    shaped = values.str.contains(_PHONE_CHARS) & (n_digits >= 9) & (n_digits <= 15) & ~values.str.contains(_DATE_LIKE)
    formatted = (
        values.str.starts_with("+")
        | values.str.contains("(", literal=True)
        | (values.str.count_matches(r"[\s.-]+") >= 2)
    )
    if not hinted:
        shaped = shaped & formatted
    return int(shaped.sum())


def _count_postcodes(values: pl.Series, *, hinted: bool, is_integer: bool) -> int | None:
    if is_integer and not hinted:
        return None
    upper = values.str.to_uppercase()
    patterns = _POSTCODE_PATTERNS + (_POSTCODE_HINTED if hinted else ())
    combined = "|".join(f"(?:{pattern})" for pattern in patterns)
    return int(upper.str.contains(combined).sum())
