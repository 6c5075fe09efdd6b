"""Accept only one read-only SELECT, judged on the syntax tree a real SQL parser builds.

This is the first of two locks: the query also runs inside a read-only transaction with a
statement timeout (see :mod:`engine.data.sql`), so the server refuses writes this check might
miss. The check parses the text with sqlglot for the server's dialect (``postgres`` for
PostgreSQL, ``mysql`` for MySQL and MariaDB, rendered in forms both servers run) and requires:

- exactly one statement (a single trailing ``;`` is allowed) that is a SELECT: ``WITH ...
  SELECT``, ``UNION``/``INTERSECT``/``EXCEPT`` of selects and subqueries included;
- that every node of the tree is a construct a read-only query is made of (:data:`STRUCTURE`):
  no INSERT/UPDATE/DELETE/MERGE (in a CTE or anywhere), no ``SELECT ... INTO`` (a table, a
  variable, ``OUTFILE``/``DUMPFILE``), no ``FOR UPDATE``/``FOR SHARE``/``LOCK IN SHARE MODE``,
  no optimizer hints, no server or session variables, nothing sqlglot could only read as an
  opaque command;
- that every function is on the allow-list of pure functions: a typed sqlglot function class
  in :data:`PURE_FUNCTION_CLASSES`, or a function sqlglot does not know (``exp.Anonymous``)
  whose name, as the server will resolve it, is in :data:`PURE_FUNCTION_NAMES`. The name is
  taken from the parsed identifier, so quoting (``"pg_read_file"``, ```LOAD_FILE```), case
  and comments between name and parenthesis (``pg_read_file /**/ (...)``) change nothing.
  A schema-qualified call is accepted only as ``pg_catalog.<allowed name>`` on PostgreSQL:
  any other qualifier may name a user-defined function.

Parser and server must read the same text the same way, or a check of one tree lets the
server run another (MySQL reads ``1--1`` as ``1 - -1``, PostgreSQL as ``1`` and a comment;
a backslash ends a PostgreSQL string but escapes a quote in MySQL; MySQL runs the content of
``/*! ... */``). So the server is never sent the user's text: it is sent sqlglot's rendering
of the checked tree (:func:`check_read_only_query` returns it), without comments, with every
string and name quoted the dialect's canonical way. That rendering is parsed and checked a
second time, so what is sent is exactly what was checked. A MySQL executable comment is
refused outright with its own message, although the rendering would drop it anyway. The
reader pins the two server settings that change how a literal is read (PostgreSQL
``standard_conforming_strings = on``; MySQL/MariaDB without ``NO_BACKSLASH_ESCAPES`` and
``ANSI_QUOTES``), so a server configured otherwise reads the rendering as sqlglot wrote it.
This was checked on the real servers (tests/security/test_sql_guard.py): ``1--1`` gives 2 on
MariaDB and 1 on PostgreSQL, ``SELECT 1--1, LOAD_FILE(...)`` is refused for LOAD_FILE.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.dialects.mysql import MySQL
from sqlglot.errors import ParseError, SqlglotError, TokenError
from sqlglot.generators.mysql import MySQLGenerator
from sqlglot.tokens import Token, TokenType

from engine.errors import InputError


class _MySQLAndMariaDBGenerator(MySQLGenerator):
    """sqlglot's MySQL rendering, with what MariaDB also runs where MySQL 8 has a newer form."""

    def regexplike_sql(self, expression: exp.RegexpLike) -> str:
        # sqlglot writes ``a REGEXP b`` as REGEXP_LIKE(a, b), a function MariaDB does not have.
        if expression.args.get("flag"):
            return self.function_fallback_sql(expression)
        return self.binary(expression, "REGEXP")


class DoppelMySQL(MySQL):
    """sqlglot's MySQL dialect whose rendering runs on both MySQL and MariaDB."""

    generator_class = _MySQLAndMariaDBGenerator


#: Doppel's dialect family -> the sqlglot dialect that reads and renders it.
SQLGLOT_DIALECTS: dict[str, str | type[Dialect]] = {"postgresql": "postgres", "mysql": DoppelMySQL}
_DISPLAY = {"postgresql": "PostgreSQL", "mysql": "MySQL/MariaDB"}

#: Functions sqlglot has no class for (``exp.Anonymous``), by lower-cased name: they compute a
#: value from their arguments and touch no file, connection, lock, sequence or setting.
#: Deliberately absent, among others: pg_read_file, pg_ls_dir, lo_import, dblink, set_config,
#: current_setting, nextval, pg_sleep, query_to_xml, LOAD_FILE, SLEEP, BENCHMARK, GET_LOCK.
PURE_FUNCTION_NAMES: frozenset[str] = frozenset(
    {
        # aggregates and window functions
        "count", "sum", "avg", "min", "max", "stddev", "stddev_pop", "stddev_samp", "std",
        "variance", "var_pop", "var_samp", "corr", "covar_pop", "covar_samp", "regr_avgx",
        "regr_avgy", "regr_count", "regr_intercept", "regr_r2", "regr_slope", "regr_sxx",
        "regr_sxy", "regr_syy", "percentile_cont", "percentile_disc", "mode", "median",
        "array_agg", "string_agg", "group_concat", "bool_and", "bool_or", "every", "bit_and",
        "bit_or", "bit_xor", "json_agg", "jsonb_agg", "json_object_agg", "jsonb_object_agg",
        "json_arrayagg", "json_objectagg", "row_number", "rank", "dense_rank", "percent_rank",
        "cume_dist", "ntile", "lag", "lead", "first_value", "last_value", "nth_value",
        # conditionals
        "coalesce", "nullif", "greatest", "least", "ifnull", "if", "isnull", "nvl",
        "num_nulls", "num_nonnulls",
        # math
        "abs", "ceil", "ceiling", "floor", "round", "trunc", "truncate", "sign", "sqrt",
        "cbrt", "exp", "ln", "log", "log10", "log2", "power", "pow", "mod", "div", "pi",
        "degrees", "radians", "sin", "cos", "tan", "asin", "acos", "atan", "atan2", "cot",
        "sinh", "cosh", "tanh", "width_bucket", "gcd", "lcm", "random", "rand", "crc32",
        # strings
        "lower", "upper", "lcase", "ucase", "initcap", "length", "char_length",
        "character_length", "octet_length", "bit_length", "substr", "substring",
        "substring_index", "mid", "left", "right", "trim", "ltrim", "rtrim", "btrim", "lpad",
        "rpad", "concat", "concat_ws", "replace", "reverse", "repeat", "space", "translate",
        "position", "strpos", "locate", "instr", "split_part", "starts_with", "ascii", "chr",
        "char", "hex", "unhex", "to_hex", "md5", "sha1", "sha2", "sha224", "sha256", "sha384",
        "sha512", "format", "quote_literal", "quote_nullable", "quote_ident", "regexp_replace",
        "regexp_match", "regexp_matches", "regexp_split_to_array", "regexp_split_to_table",
        "regexp_like", "regexp_substr", "regexp_instr", "regexp_count", "encode", "decode",
        "string_to_array", "array_to_string", "soundex", "levenshtein", "field", "elt",
        "find_in_set", "strcmp", "to_base64", "from_base64", "normalize", "overlay",
        # dates and times
        "now", "current_date", "current_time", "current_timestamp", "localtime",
        "localtimestamp", "curdate", "curtime", "utc_date", "utc_time", "utc_timestamp",
        "statement_timestamp", "transaction_timestamp", "date", "time", "timestamp",
        "date_trunc", "date_part", "date_bin", "extract", "age", "make_date", "make_time",
        "make_timestamp", "make_timestamptz", "make_interval", "to_char", "to_date",
        "to_timestamp", "to_number", "justify_days", "justify_hours", "justify_interval",
        "isfinite", "date_add", "date_sub", "adddate", "subdate", "addtime", "subtime",
        "datediff", "timediff", "timestampdiff", "timestampadd", "date_format", "time_format",
        "str_to_date", "from_unixtime", "unix_timestamp", "from_days", "to_days", "to_seconds",
        "year", "quarter", "month", "monthname", "week", "weekofyear", "weekday", "dayofweek",
        "dayofmonth", "dayofyear", "dayname", "day", "hour", "minute", "second",
        "microsecond", "last_day", "makedate", "maketime", "period_add", "period_diff",
        "sec_to_time", "time_to_sec", "yearweek", "convert_tz", "timezone",
        # JSON
        "json_extract", "json_unquote", "json_value", "json_query", "json_contains",
        "json_contains_path", "json_keys", "json_length", "json_type", "json_valid",
        "json_object", "json_array", "json_quote", "json_search", "json_depth",
        "json_extract_path", "json_extract_path_text", "jsonb_extract_path",
        "jsonb_extract_path_text", "json_array_length", "jsonb_array_length",
        "json_array_elements", "jsonb_array_elements", "json_array_elements_text",
        "jsonb_array_elements_text", "json_each", "jsonb_each", "json_each_text",
        "jsonb_each_text", "json_object_keys", "jsonb_object_keys", "json_typeof",
        "jsonb_typeof", "to_json", "to_jsonb", "json_build_object", "jsonb_build_object",
        "json_build_array", "jsonb_build_array", "jsonb_path_exists", "jsonb_pretty",
        "row_to_json", "array_to_json",
        # arrays and generated rows
        "array_length", "cardinality", "unnest", "array_position", "array_positions",
        "array_append", "array_prepend", "array_cat", "array_remove", "array_replace",
        "array_lower", "array_upper", "generate_series", "generate_subscripts",
    }
)

#: The functions sqlglot knows by class, accepted by class (they render to the pure built-in
#: of the same meaning on both servers).
PURE_FUNCTION_CLASSES: frozenset[type[exp.Expression]] = frozenset(
    {
        # logic, conditionals, casts, subquery predicates
        exp.And, exp.Or, exp.Xor, exp.Case, exp.If, exp.Coalesce, exp.Nullif, exp.Nvl2,
        exp.Greatest, exp.Least, exp.Cast, exp.TryCast, exp.CastToStrType, exp.Convert,
        exp.Exists, exp.EqualNull, exp.IsNan, exp.IsInf, exp.Collate,
        # aggregates
        exp.Count, exp.CountIf, exp.Sum, exp.Avg, exp.Min, exp.Max, exp.Median, exp.Stddev,
        exp.StddevPop, exp.StddevSamp, exp.Variance, exp.VariancePop, exp.Corr, exp.CovarPop,
        exp.CovarSamp, exp.RegrAvgx, exp.RegrAvgy, exp.RegrCount, exp.RegrIntercept,
        exp.RegrR2, exp.RegrSlope, exp.RegrSxx, exp.RegrSxy, exp.RegrSyy,
        exp.PercentileCont, exp.PercentileDisc, exp.ApproxDistinct, exp.ArrayAgg,
        exp.GroupConcat, exp.LogicalAnd, exp.LogicalOr, exp.BitwiseAndAgg, exp.BitwiseOrAgg,
        exp.BitwiseXorAgg, exp.AnyValue, exp.ArgMax, exp.ArgMin, exp.First, exp.Last,
        exp.JSONArrayAgg, exp.JSONObjectAgg, exp.JSONBObjectAgg, exp.Grouping, exp.GroupingId,
        exp.Kurtosis, exp.Skewness, exp.Mode,
        # window functions
        exp.RowNumber, exp.Rank, exp.DenseRank, exp.PercentRank, exp.CumeDist, exp.Ntile,
        exp.Lag, exp.Lead, exp.FirstValue, exp.LastValue, exp.NthValue,
        # math
        exp.Abs, exp.Ceil, exp.Floor, exp.Round, exp.Trunc, exp.Sign, exp.Sqrt, exp.Cbrt,
        exp.Exp, exp.Ln, exp.Log, exp.Pow, exp.Pi, exp.Degrees, exp.Radians, exp.Sin, exp.Cos,
        exp.Tan, exp.Asin, exp.Acos, exp.Atan, exp.Atan2, exp.Cot, exp.Sinh, exp.Cosh,
        exp.Tanh, exp.Factorial, exp.WidthBucket, exp.Rand, exp.SafeDivide,
        # strings
        exp.Lower, exp.Upper, exp.Initcap, exp.Length, exp.BitLength, exp.ByteLength,
        exp.Substring, exp.SubstringIndex, exp.Left, exp.Right, exp.Trim, exp.Pad,
        exp.Concat, exp.ConcatWs, exp.Replace, exp.Reverse, exp.Repeat, exp.Space,
        exp.Translate, exp.StrPosition, exp.SplitPart, exp.StartsWith, exp.EndsWith,
        exp.Ascii, exp.Chr, exp.Unicode, exp.Hex, exp.Unhex, exp.LowerHex, exp.MD5,
        exp.MD5Digest, exp.SHA, exp.SHA2, exp.Format, exp.Overlay, exp.Levenshtein,
        exp.Soundex, exp.RegexpLike, exp.RegexpILike, exp.RegexpReplace, exp.RegexpExtract,
        exp.RegexpExtractAll, exp.RegexpSplit, exp.RegexpCount, exp.RegexpInstr,
        exp.RegexpSubstr, exp.ToBase64, exp.FromBase64, exp.Normalize, exp.Elt, exp.ToChar,
        exp.ToNumber, exp.NumberToStr, exp.StringToArray, exp.ArrayToString, exp.Split,
        exp.Encode, exp.Decode,
        # dates and times
        exp.CurrentDate, exp.CurrentTime, exp.CurrentTimestamp, exp.CurrentDatetime,
        exp.Localtime, exp.Localtimestamp, exp.UtcDate, exp.UtcTime, exp.UtcTimestamp,
        exp.Date, exp.Datetime, exp.Time, exp.Timestamp, exp.DateAdd, exp.DateSub,
        exp.DateDiff, exp.DateTrunc, exp.DateBin, exp.DatetimeAdd, exp.DatetimeSub,
        exp.DatetimeDiff, exp.DatetimeTrunc, exp.TimestampAdd, exp.TimestampSub,
        exp.TimestampDiff, exp.TimestampTrunc, exp.TimeAdd, exp.TimeSub, exp.TimeDiff,
        exp.TimeTrunc, exp.TsOrDsAdd, exp.TsOrDsDiff, exp.TsOrDsToDate, exp.TsOrDsToTimestamp,
        exp.TsOrDsToDatetime, exp.TsOrDsToTime, exp.TsOrDsToDateStr, exp.Extract, exp.Year,
        exp.Quarter, exp.Month, exp.Week, exp.WeekOfYear, exp.Day, exp.DayOfMonth,
        exp.DayOfWeek, exp.DayOfWeekIso, exp.DayOfYear, exp.Hour, exp.Minute, exp.Second,
        exp.Dayname, exp.Monthname, exp.LastDay, exp.AddMonths, exp.MonthsBetween,
        exp.MakeInterval, exp.JustifyDays, exp.JustifyHours, exp.JustifyInterval,
        exp.StrToDate, exp.StrToTime, exp.StrToUnix, exp.TimeToStr, exp.TimeToUnix,
        exp.TimeStrToTime, exp.TimeStrToDate, exp.TimeStrToUnix, exp.UnixToTime,
        exp.UnixToStr, exp.UnixToTimeStr, exp.UnixSeconds, exp.DateFromParts,
        exp.TimestampFromParts, exp.TimeFromParts, exp.DateStrToDate, exp.DateToDateStr,
        exp.ConvertTimezone, exp.GenerateSeries, exp.ExplodingGenerateSeries,
        exp.GenerateDateArray, exp.Unnest, exp.Explode,
        # JSON and arrays
        exp.JSONExtract, exp.JSONExtractScalar, exp.JSONBExtract, exp.JSONBExtractScalar,
        exp.JSONBContains, exp.JSONBExists, exp.JSONArrayContains, exp.JSONExists,
        exp.JSONFormat, exp.JSONObject, exp.JSONArray, exp.JSONKeys, exp.JSONType,
        exp.ParseJSON, exp.JSONValueArray, exp.JSONExtractArray, exp.Array,
        exp.ArrayContains, exp.ArrayContainsAll, exp.ArrayOverlaps, exp.ArraySize,
        exp.ArrayConcat, exp.ArrayAppend, exp.ArrayPrepend, exp.ArrayPosition,
        exp.ArrayRemove,
    }
)

#: Everything else a read-only query is made of: statements that only read, clauses,
#: names, literals, operators and predicates. A node of any other class is refused.
STRUCTURE: frozenset[type[exp.Expression]] = frozenset(
    {
        # queries and their clauses
        exp.Select, exp.Union, exp.Intersect, exp.Except, exp.Subquery, exp.With, exp.CTE,
        exp.From, exp.Join, exp.Where, exp.Group, exp.Having, exp.Qualify, exp.Order,
        exp.Ordered, exp.Limit, exp.Offset, exp.Fetch, exp.LimitOptions, exp.Distinct, exp.Lateral,
        exp.Values, exp.TableSample, exp.Window, exp.WindowSpec, exp.Filter, exp.WithinGroup,
        exp.IgnoreNulls, exp.RespectNulls, exp.Cube, exp.Rollup, exp.GroupingSets,
        # names
        exp.Table, exp.TableAlias, exp.Alias, exp.Aliases, exp.Column, exp.Identifier,
        exp.Star, exp.Dot, exp.Var, exp.ColumnDef,
        # literals and types
        exp.Literal, exp.Boolean, exp.Null, exp.DataType, exp.DataTypeParam, exp.Interval,
        exp.IntervalSpan, exp.HexString, exp.BitString, exp.ByteString, exp.National,
        exp.RawString, exp.UnicodeString, exp.Introducer, exp.Tuple, exp.Bracket, exp.Slice, exp.Paren,
        exp.JSONPath, exp.JSONPathKey, exp.JSONPathRoot, exp.JSONPathSubscript,
        exp.JSONPathWildcard, exp.Kwarg, exp.AtTimeZone,
        # operators and predicates
        exp.Add, exp.Sub, exp.Mul, exp.Div, exp.IntDiv, exp.Mod, exp.Neg, exp.Not, exp.DPipe,
        exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeEQ, exp.NullSafeNEQ,
        exp.Is, exp.In, exp.Between, exp.Like, exp.ILike,
        exp.SimilarTo, exp.Escape, exp.Any, exp.All, exp.Overlaps, exp.Distance,
        exp.BitwiseAnd, exp.BitwiseOr, exp.BitwiseXor, exp.BitwiseNot,
        exp.BitwiseLeftShift, exp.BitwiseRightShift, exp.ArrayContainedBy,
    }
)

_QUERY_ROOTS = (exp.Select, exp.SetOperation, exp.Subquery)
_STATEMENT_WORDS = {"SELECT", "WITH"}
_MISSING = re.compile(r"Missing (\S+) from (\d+):(\d+)")


def _refuse(reason: str, position: int | None = None) -> InputError:
    where = f" (character {position + 1})" if position is not None else ""
    return InputError(f"the query is refused: {reason}{where}")


def _tokens(sql: str, dialect: str) -> list[Token]:
    """sqlglot's tokens for ``sql``: the same reading the parser makes."""
    try:
        return Dialect.get_or_raise(SQLGLOT_DIALECTS[dialect]).tokenize(sql)
    except TokenError as error:
        cause = str(error.__cause__ or error)
        missing = _MISSING.search(cause)
        if missing is None:
            raise InputError(
                f"the query has an unterminated comment or a character sequence {_DISPLAY[dialect]} "
                f"cannot read, near: {sql[error.start or 0 : error.end].strip()!r}"
            ) from None
        delimiter, line, column = missing.group(1), int(missing.group(2)), int(missing.group(3))
        is_string = delimiter == "'" or delimiter.startswith("$") or (dialect == "mysql" and delimiter == '"')
        what = "string" if is_string else "quoted name"
        raise InputError(
            f"the query has an unterminated {what} (an opening {delimiter} without its closing one) "
            f"starting at line {line}, column {column + 1}"
        ) from None


def _check_tokens(tokens: list[Token], dialect: str) -> None:
    """Statement-level rules read from the token stream: one statement, SELECT/WITH, no /*! */."""
    if dialect == "mysql":
        for token in tokens:
            for comment in token.comments:
                if comment.lstrip().startswith(("!", "M!")):
                    raise InputError(
                        "the query has a MySQL executable comment (/*! ... */) near character "
                        f"{token.start + 1}; the server would run its content, so it is refused"
                    )
    if not tokens:
        raise InputError("the query holds only comments; pass a SELECT statement")
    semicolons = [i for i, token in enumerate(tokens) if token.token_type == TokenType.SEMICOLON]
    if semicolons and (len(semicolons) > 1 or semicolons[0] != len(tokens) - 1):
        first = tokens[semicolons[0]]
        raise InputError(
            f"the query holds more than one statement (a ';' at character {first.start + 1} "
            "is followed by more SQL); pass a single SELECT"
        )
    lead = next((token for token in tokens if token.token_type != TokenType.L_PAREN), None)
    word = lead.text.upper() if lead is not None else "("
    if lead is None or lead.token_type == TokenType.SEMICOLON or word not in _STATEMENT_WORDS:
        shown = "nothing" if lead is None or lead.token_type == TokenType.SEMICOLON else word
        if shown == "nothing" and len(tokens) == 1:
            raise InputError("the query is empty; pass a SELECT statement")
        raise InputError(f"only a read-only SELECT (or WITH ... SELECT) is allowed; the query starts with {shown}")


def _into_position(tokens: list[Token]) -> int | None:
    """Where a SELECT ... INTO is, if any (an INTO that does not follow INSERT or MERGE)."""
    for previous, token in zip([None, *tokens], tokens):
        if token.token_type == TokenType.INTO and (previous is None or previous.text.upper() not in ("INSERT", "MERGE")):
            return token.start
    return None


def _parse(sql: str, tokens: list[Token], dialect: str) -> exp.Expression:
    try:
        parsed = sqlglot.parse(sql, read=SQLGLOT_DIALECTS[dialect])
        # A trailing ';' followed by a comment parses as an empty Semicolon statement.
        statements = [s for s in parsed if s is not None and not isinstance(s, exp.Semicolon)]
    except ParseError as error:
        into = _into_position(tokens)
        if into is not None:
            raise _refuse("SELECT ... INTO creates a table, sets a variable or writes a file", into) from None
        detail = error.errors[0] if error.errors else {}
        where = f" at line {detail.get('line')}, column {detail.get('col')}" if detail.get("line") else ""
        near = str(detail.get("highlight") or "").strip()
        shown = f" near {near!r}" if near else ""
        raise InputError(
            f"the query could not be read as one {_DISPLAY[dialect]} SELECT: "
            f"{detail.get('description', 'invalid syntax')}{where}{shown}"
        ) from None
    if len(statements) != 1:
        raise InputError("the query is empty; pass a SELECT statement")
    return statements[0]


def _function_name(node: exp.Func) -> str:
    """The name the server resolves: sqlglot keeps it without quotes; compare it lower-cased."""
    return (node.name or node.sql_name()).lower()


def _qualifier(node: exp.Expression) -> str | None:
    """``pg_catalog`` in ``pg_catalog."pg_ls_dir"(...)``: what qualifies a function call."""
    parent = node.parent
    if isinstance(parent, exp.Dot) and parent.expression is node:
        return parent.this.sql() if parent.this is not None else ""
    return None


def _position(node: exp.Expression, tokens: list[Token], words: Iterable[str] = ()) -> int | None:
    """The 0-based character where ``node`` starts, from sqlglot's meta or the first keyword."""
    for candidate in (node, node.args.get("this")):
        if isinstance(candidate, exp.Expression) and "start" in candidate.meta:
            return int(candidate.meta["start"])
    wanted = {word.upper() for word in words}
    return next((token.start for token in tokens if token.text.upper() in wanted), None)


def _check_function(node: exp.Func, dialect: str, tokens: list[Token]) -> None:
    if isinstance(node, (exp.Anonymous, exp.AnonymousAggFunc)):
        name = _function_name(node)
        qualifier = _qualifier(node)
        position = _position(node, tokens, [name])
        if qualifier is not None and not (dialect == "postgresql" and qualifier.strip('"') == "pg_catalog"):
            raise _refuse(
                f"the schema-qualified function {qualifier}.{name}() may be a user-defined function; "
                "only pure built-in functions are allowed",
                position,
            )
        if name not in PURE_FUNCTION_NAMES:
            raise _refuse(
                f"the function {name}() is not on the allow-list of pure functions (a read-only query may "
                "only compute values, not read files, open connections, sleep, lock or change settings)",
                position,
            )
        return
    if type(node) not in PURE_FUNCTION_CLASSES:
        name = node.sql_name().lower()
        raise _refuse(f"the function {name}() is not on the allow-list of pure functions", _position(node, tokens, [name]))
    qualifier = _qualifier(node)
    if qualifier is not None and not (dialect == "postgresql" and qualifier.strip('"') == "pg_catalog"):
        name = node.sql_name().lower()
        raise _refuse(f"the schema-qualified function {qualifier}.{name}() may be a user-defined function", None)


def _check_node(node: exp.Expression, dialect: str, tokens: list[Token]) -> None:
    """Refuse ``node`` unless it is a read-only construct or a pure function."""
    if isinstance(node, exp.Func):
        _check_function(node, dialect, tokens)
        return
    if type(node) in STRUCTURE:
        return
    if isinstance(node, (exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Copy)):
        word = type(node).__name__.upper()
        raise _refuse(f"{word} is not allowed in a read-only query", _position(node, tokens, [word]))
    if isinstance(node, exp.Into):
        raise _refuse("SELECT ... INTO creates a table, sets a variable or writes a file", _position(node, tokens, ["INTO"]))
    if isinstance(node, exp.Lock):
        text = node.sql(dialect=SQLGLOT_DIALECTS[dialect]).strip()
        at = [token.start for token in tokens if token.text.upper() in ("FOR", "LOCK")]  # lock clauses come last
        raise _refuse(f"{text} locks rows; a read-only query must not take locks", at[-1] if at else None)
    if isinstance(node, exp.Hint):
        raise _refuse("optimizer hints (/*+ ... */) are not allowed; they can change the server's limits")
    if isinstance(node, (exp.SessionParameter, exp.Parameter, exp.Placeholder, exp.PropertyEQ)):
        raise _refuse(f"server, session or bind variables ({node.sql(dialect=SQLGLOT_DIALECTS[dialect])}) are not allowed")
    if isinstance(node, exp.Command):
        raise _refuse(f"{str(node.this).upper()} is not a statement the read-only check understands")
    text = node.sql(dialect=SQLGLOT_DIALECTS[dialect])
    shown = text if len(text) <= 60 else text[:57] + "..."
    raise _refuse(f"the construct {type(node).__name__} ({shown}) is not allowed in a read-only query")


def _check_tree(tree: exp.Expression, dialect: str, tokens: list[Token]) -> None:
    if isinstance(tree, exp.Command):
        raise InputError(
            f"only a read-only SELECT (or WITH ... SELECT) is allowed; the query starts with {str(tree.this).upper()}"
        )
    if not isinstance(tree, _QUERY_ROOTS):
        raise InputError(
            f"only a read-only SELECT (or WITH ... SELECT) is allowed; the query is a {type(tree).__name__.upper()}"
        )
    for node in tree.walk():
        _check_node(node, dialect, tokens)


def _keep_dual(tree: exp.Expression, dialect: str) -> None:
    """MySQL's ``FROM DUAL`` is a keyword, not a table: keep it unquoted in the rendering."""
    if dialect != "mysql":
        return
    for table in tree.find_all(exp.Table):
        name = table.this
        if isinstance(name, exp.Identifier) and not name.quoted and name.name.lower() == "dual" and not table.db:
            table.set("this", exp.Var(this="DUAL"))


def _checked_tree(sql: str, dialect: str) -> tuple[exp.Expression, list[Token]]:
    tokens = _tokens(sql, dialect)
    _check_tokens(tokens, dialect)
    tree = _parse(sql, tokens, dialect)
    _check_tree(tree, dialect, tokens)
    _keep_dual(tree, dialect)
    return tree, tokens


def check_read_only_query(sql: str, *, dialect: str) -> str:
    """The SQL to send for ``sql`` if it is one read-only SELECT; InputError naming why if not.

    ``dialect`` is 'postgresql' or 'mysql' (MariaDB). The result is sqlglot's rendering of the
    checked tree, not ``sql``: comments dropped, strings and names quoted canonically, so the
    server cannot read it differently from the parser (see the module docstring). The
    rendering is checked again before it is returned.
    """
    if dialect not in SQLGLOT_DIALECTS:
        raise InputError(f"queries can only be checked for {', '.join(SQLGLOT_DIALECTS)}; got dialect={dialect!r}")
    if not isinstance(sql, str) or not sql.strip():
        raise InputError("the query is empty; pass a SELECT statement")
    try:
        tree, _ = _checked_tree(sql, dialect)
        rendered = tree.sql(dialect=SQLGLOT_DIALECTS[dialect], comments=False, normalize_functions=False)
        again, _ = _checked_tree(rendered, dialect)
        stable = again.sql(dialect=SQLGLOT_DIALECTS[dialect], comments=False, normalize_functions=False) == rendered
    except SqlglotError as error:  # anything the tokenizer and parser steps above did not name
        raise InputError(f"the query could not be checked as one {_DISPLAY[dialect]} SELECT: {error}") from None
    except RecursionError:
        raise InputError(
            "the query is nested too deeply to be checked (parentheses, subqueries or operators nested "
            "dozens of levels); flatten it, e.g. with a WITH clause"
        ) from None
    if not stable:
        raise InputError("the query could not be checked reliably (its rendering is not stable); simplify it")
    return rendered
