"""Reading meaning from column and table names: tokens, key-like names, stems.

Names are evidence, never proof: every rule that uses them also checks the values. Names are
split on separators and camelCase, so ``playerID``, ``player_id`` and ``player-id`` give the
same tokens.
"""

from __future__ import annotations

import re

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SEPARATORS = re.compile(r"[^0-9A-Za-z]+")

# A column whose last token is one of these is named like a key.
STRONG_KEY_TOKENS = frozenset({"id", "ids", "uuid", "guid", "pk", "key"})
# These name a key only when the values are unique too (``account_number`` but not ``education-num``).
WEAK_KEY_TOKENS = frozenset({"no", "nr", "num", "number", "code", "ref"})


def tokens(name: str) -> list[str]:
    """Lower-case word tokens of a name: ``"nameFirst"`` -> ``["name", "first"]``."""
    spaced = _CAMEL.sub(" ", name)
    return [t.lower() for t in _SEPARATORS.split(spaced) if t]


def is_strong_key_name(name: str) -> bool:
    """True for ``id``, ``players_id``, ``customerKey``, ``uuid``: the name says 'key'."""
    toks = tokens(name)
    return bool(toks) and toks[-1] in STRONG_KEY_TOKENS


def is_weak_key_name(name: str) -> bool:
    """True for ``account_no``, ``order number``: a key name if (and only if) values are unique."""
    toks = tokens(name)
    return bool(toks) and toks[-1] in WEAK_KEY_TOKENS


def singular(word: str) -> str:
    """A crude English singular, enough to match ``players`` with ``player``."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith(("ses", "xes")):
        return word[:-2]
    if len(word) > 2 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def stem(name: str) -> str:
    """The name without a trailing key token, singular and joined: ``players_id`` -> ``player``.

    ``id`` alone gives ``""``.
    """
    toks = tokens(name)
    if toks and toks[-1] in STRONG_KEY_TOKENS | WEAK_KEY_TOKENS:
        toks = toks[:-1]
    if not toks:
        return ""
    toks[-1] = singular(toks[-1])
    return "".join(toks)


def table_stem(table: str) -> str:
    """A table name reduced like a column stem: ``"order_items"`` -> ``"orderitem"``."""
    toks = tokens(table)
    if not toks:
        return ""
    toks[-1] = singular(toks[-1])
    return "".join(toks)


def is_own_key_name(column: str, table: str) -> bool:
    """True when a column is named for its own table's key: ``id``, or ``client_id`` in ``client``."""
    column_stem = stem(column)
    if not is_strong_key_name(column) and not is_weak_key_name(column):
        return False
    return column_stem == "" or column_stem == table_stem(table)
