"""Runs SQL queries with DuckDB (the PyPI package) for the Parquet tests.

Reads a JSON object from standard input: {"queries": {NAME: SQL, ...}}, run
in the current directory (the test sets it, so a query names files as
the README does). Prints {NAME: {"columns": [...], "rows": [[...], ...]}}
as JSON; values JSON cannot hold (timestamps, decimals) are printed as
text. A query that fails makes the whole run fail, with DuckDB's message.
"""

import datetime
import decimal
import json
import sys

import duckdb


def plain(value):
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def main():
    request = json.load(sys.stdin)
    connection = duckdb.connect()
    out = {}
    for name, sql in request["queries"].items():
        try:
            result = connection.execute(sql)
        except duckdb.Error as err:
            sys.exit(f"query {name}: {err}")
        columns = [d[0] for d in result.description]
        rows = [[plain(v) for v in row] for row in result.fetchall()]
        out[name] = {"columns": columns, "rows": rows}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
