"""Accept only a single read-only SELECT, judged from its tokens before it is sent.

This is the first of two locks: the query also runs inside a read-only transaction with a
statement timeout (see :mod:`engine.data.sql`), so the server refuses writes this check might
miss. The check tokenizes the text the way the server will — skipping string literals, quoted
identifiers, dollar-quoted bodies (PostgreSQL) and comments — and then requires:

- exactly one statement (a single trailing ``;`` is allowed);
- that it starts with ``SELECT`` or ``WITH`` (optionally inside parentheses);
- no keyword that writes, changes the schema, controls transactions or locks, anywhere,
  including inside a CTE (``WITH d AS (DELETE ... RETURNING *) SELECT ...``);
- no ``SELECT ... INTO`` (creates a table or writes a file) and no ``FOR UPDATE``/``FOR SHARE``
  row locks;
- no call to a function that reads server files or opens connections (``pg_read_file``,
  ``lo_import``, ``dblink``, MySQL ``LOAD_FILE`` ...);
- no MySQL executable comment (``/*! ... */``), whose content the server runs.

A word inside a quoted identifier or a string is never a keyword, so ``SELECT "update" FROM t``
and ``WHERE note = 'delete me'`` pass.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.errors import InputError

# Words that write, lock or change the schema from inside a statement that starts with SELECT
# or WITH (data-modifying CTEs, SELECT INTO, INTO OUTFILE) or that are reserved words no column
# can be named without quotes. Statements that start with any other word (SET, BEGIN, COMMENT,
# VACUUM ...) are already refused by the SELECT/WITH rule and the single-statement rule, so
# ordinary column names such as "comment" or "start" are not mistaken for commands.
_WRITES = {
    "INSERT", "UPDATE", "DELETE", "MERGE", "UPSERT", "TRUNCATE", "DROP", "CREATE", "ALTER",
    "GRANT", "REVOKE", "COPY", "CALL", "EXECUTE", "INTO", "OUTFILE", "DUMPFILE", "LOCK",
    "UNLOCK", "HANDLER",
}
_FILE_AND_NETWORK_FUNCTIONS = {
    "PG_READ_FILE", "PG_READ_BINARY_FILE", "PG_LS_DIR", "PG_STAT_FILE", "PG_LS_LOGDIR",
    "PG_LS_WALDIR", "PG_LS_TMPDIR", "PG_LS_ARCHIVE_STATUSDIR", "LO_IMPORT", "LO_EXPORT",
    "LO_FROM_BYTEA", "LO_PUT", "LO_UNLINK", "LO_CREATE", "LO_CREAT", "DBLINK", "DBLINK_EXEC",
    "DBLINK_CONNECT", "DBLINK_SEND_QUERY", "SET_CONFIG", "PG_TERMINATE_BACKEND",
    "PG_CANCEL_BACKEND", "PG_RELOAD_CONF", "PG_ROTATE_LOGFILE", "QUERY_TO_XML",
    "QUERY_TO_XML_AND_XMLSCHEMA", "CURSOR_TO_XML", "PG_FILE_WRITE", "LOAD_FILE", "SYS_EXEC",
    "SYS_EVAL", "GET_LOCK", "RELEASE_LOCK", "RELEASE_ALL_LOCKS",
}
_ROW_LOCKS = {"UPDATE", "SHARE", "NO", "KEY"}

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")


@dataclass(frozen=True)
class Token:
    """A significant token: 'word' (upper-cased), 'symbol', or 'literal' (string/identifier)."""

    kind: str
    text: str
    position: int


def _end_of_quoted(sql: str, start: int, quote: str, backslash: bool) -> int:
    i = start + 1
    while i < len(sql):
        char = sql[i]
        if backslash and char == "\\":
            i += 2
            continue
        if char == quote:
            if i + 1 < len(sql) and sql[i + 1] == quote:
                i += 2
                continue
            return i + 1
        i += 1
    raise InputError(f"the query has an unterminated {'string' if quote == chr(39) else 'quoted name'} starting at character {start + 1}")


def tokenize(sql: str, *, dialect: str) -> list[Token]:
    """Significant tokens of ``sql`` for ``dialect`` ('postgresql' or 'mysql'); comments dropped."""
    mysql = dialect == "mysql"
    tokens: list[Token] = []
    i = 0
    length = len(sql)
    while i < length:
        char = sql[i]
        if char.isspace():
            i += 1
        elif sql.startswith("--", i) or (mysql and char == "#"):
            newline = sql.find("\n", i)
            i = length if newline < 0 else newline + 1
        elif sql.startswith("/*", i):
            if mysql and (sql.startswith("/*!", i) or sql.startswith("/*M!", i)):
                raise InputError(
                    f"the query has a MySQL executable comment (/*! ... */) at character {i + 1}; "
                    "the server would run its content, so it is refused"
                )
            i = _end_of_comment(sql, i, nested=not mysql)
        elif char == "'":
            escape_prefix = not mysql and i > 0 and sql[i - 1] in "eE" and (i < 2 or not (sql[i - 2].isalnum() or sql[i - 2] == "_"))
            end = _end_of_quoted(sql, i, "'", backslash=mysql or escape_prefix)
            tokens.append(Token("literal", sql[i:end], i))
            i = end
        elif char == '"':
            end = _end_of_quoted(sql, i, '"', backslash=mysql)
            tokens.append(Token("literal", sql[i:end], i))
            i = end
        elif char == "`" and mysql:
            end = _end_of_quoted(sql, i, "`", backslash=False)
            tokens.append(Token("literal", sql[i:end], i))
            i = end
        elif char == "$" and not mysql and (match := _DOLLAR_TAG.match(sql, i)):
            tag = match.group(0)
            close = sql.find(tag, match.end())
            if close < 0:
                raise InputError(f"the query has an unterminated dollar-quoted string {tag} starting at character {i + 1}")
            tokens.append(Token("literal", sql[i : close + len(tag)], i))
            i = close + len(tag)
        elif match := _WORD.match(sql, i):
            word = match.group(0)
            if word in ("E", "e") and not mysql and sql.startswith("'", match.end()):
                i = match.end()  # the prefix of an E'...' escape string, read with the literal
                continue
            tokens.append(Token("word", word.upper(), i))
            i = match.end()
        else:
            tokens.append(Token("symbol", char, i))
            i += 1
    return tokens


def _end_of_comment(sql: str, start: int, *, nested: bool) -> int:
    depth = 0
    i = start
    while i < len(sql):
        if sql.startswith("/*", i):
            depth = depth + 1 if nested or depth == 0 else depth
            i += 2
        elif sql.startswith("*/", i):
            depth -= 1
            i += 2
            if depth == 0:
                return i
        else:
            i += 1
    raise InputError(f"the query has an unterminated comment starting at character {start + 1}")


def check_read_only_query(sql: str, *, dialect: str) -> str:
    """Return ``sql`` without a trailing ``;`` if it is one read-only SELECT, else InputError.

    ``dialect`` is 'postgresql' or 'mysql' (MariaDB); it decides the comment and quoting rules.
    """
    if not isinstance(sql, str) or not sql.strip():
        raise InputError("the query is empty; pass a SELECT statement")
    tokens = tokenize(sql, dialect=dialect)
    if not tokens:
        raise InputError("the query holds only comments; pass a SELECT statement")
    semicolons = [j for j, t in enumerate(tokens) if t.kind == "symbol" and t.text == ";"]
    if semicolons:
        first = semicolons[0]
        if first != len(tokens) - 1:
            raise InputError(
                f"the query holds more than one statement (a ';' at character {tokens[first].position + 1} "
                "is followed by more SQL); pass a single SELECT"
            )
        cut = tokens[first].position
        tokens = tokens[:-1]
        if not tokens:
            raise InputError("the query is empty; pass a SELECT statement")
    lead = next((t for t in tokens if not (t.kind == "symbol" and t.text == "(")), None)
    if lead is None or lead.kind != "word" or lead.text not in ("SELECT", "WITH"):
        shown = lead.text if lead is not None else "("
        raise InputError(f"only a read-only SELECT (or WITH ... SELECT) is allowed; the query starts with {shown}")
    for j, token in enumerate(tokens):
        if token.kind != "word":
            continue
        following = tokens[j + 1] if j + 1 < len(tokens) else None
        if token.text in _WRITES:
            if token.text == "INTO":
                reason = "SELECT ... INTO creates a table or writes a file"
            else:
                reason = f"{token.text} is not allowed in a read-only query"
            raise InputError(f"the query is refused: {reason} (character {token.position + 1})")
        if token.text == "FOR" and following is not None and following.kind == "word" and following.text in _ROW_LOCKS:
            raise InputError(
                f"the query is refused: FOR {following.text} locks rows (character {token.position + 1}); "
                "a read-only query must not take locks"
            )
        if (
            token.text in _FILE_AND_NETWORK_FUNCTIONS
            and following is not None
            and following.kind == "symbol"
            and following.text == "("
        ):
            raise InputError(
                f"the query is refused: {token.text.lower()}() reads server files, opens connections or "
                f"changes server state (character {token.position + 1})"
            )
    return sql[:cut].rstrip() if semicolons else sql
