"""fakesnow's HTTP server, as the Snowflake tests start it: `python fakesnow_server.py PORT`,
run by the Python of fakesnow's own environment (tests/emulators/install), never imported by the
tests or the project.

Two corrections to fakesnow 0.12.1, where it answers otherwise than Snowflake does and
snowflake-connector-python 5 (the project's client) refuses the answer (connector 4 let both
pass); every statement still goes to fakesnow as sent:
- its login answer lacks `masterToken`, `sessionId`, and the warehouse and role in
  `sessionInfo`, which connector 5 requires before it runs a statement: they are added;
- a NULL timestamp goes out as a struct with no null mask (epoch 0 and a null child marked not
  nullable): connector 5 fails the whole result, connector 4 read 1970-01-01. Here the struct is
  null where the timestamp is, as in Snowflake's own Arrow results.

And one change of speed, not of answers: fakesnow parses and rewrites every statement it runs
with sqlglot (about 10 ms for a row of an array binding, which it runs row by row, and a second
for a MERGE of a wide table), so a flush of a few hundred rows took it seconds, and 10,000 rows
outlasted the connector's request timeout, where Snowflake runs the binding as one statement.
The rewritten statements of a DML statement are kept by its text, database and schema, and run
again as they are: the same SQL reaches DuckDB with the same parameters as before.
"""

from __future__ import annotations

import json
import re
import sys
import threading
from collections import OrderedDict

import fakesnow.arrow
import pyarrow as pa
import pyarrow.compute as pc
import snowflake.connector.errors
import uvicorn
from fakesnow.cursor import FakeSnowflakeCursor
from fakesnow.server import app
from sqlglot import exp
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.responses import Response

LOGIN = "/session/v1/login-request"


class LoginAsSnowflakeAnswers(BaseHTTPMiddleware):
    async def dispatch(self, request, call_next):
        response = await call_next(request)
        if request.url.path != LOGIN:
            return response
        answer = json.loads(b"".join([chunk async for chunk in response.body_iterator]))
        data = answer.get("data")
        if data:
            data.setdefault("masterToken", data["token"])
            data.setdefault("validityInSeconds", 3600)
            data.setdefault("masterValidityInSeconds", 14400)
            data.setdefault("sessionId", 1)
            data.setdefault("sessionInfo", {}).update({"warehouseName": None, "roleName": None})
        return Response(json.dumps(answer), status_code=response.status_code, media_type="application/json")


_timestamp_struct = fakesnow.arrow.timestamp_to_sf_struct


def timestamp_struct_with_nulls(ts: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(ts, pa.ChunkedArray):
        ts = ts.combine_chunks()
    if not ts.null_count:
        return _timestamp_struct(ts)
    filled = _timestamp_struct(ts.fill_null(pa.scalar(0, type=ts.type)))
    fields = [filled.type.field(i) for i in range(filled.type.num_fields)]
    return pa.StructArray.from_arrays(filled.flatten(), fields=fields, mask=pc.is_null(ts))


# Statements whose rewriting depends only on their text and the session's database and schema:
# no DDL, session or variable statements (their rewriting acts), nor IDENTIFIER(?) or $variables.
_CACHED = re.compile(r"\s*(INSERT|MERGE|UPDATE|DELETE|SELECT)\b", re.IGNORECASE)
_KEPT = 64  # the statements run last (a flush is three of them); each a tree of sqlglot objects
_rewritten: OrderedDict[tuple, list] = OrderedDict()
_lock = threading.Lock()  # the server runs statements on a pool of threads
_execute = FakeSnowflakeCursor.execute
_transform = FakeSnowflakeCursor._transform


def execute_rewritten_once(self, command, params=None, *args, **kwargs):
    """FakeSnowflakeCursor.execute, for a DML statement the server runs: rewritten once, kept."""
    key = (command, self._conn.database, self._conn.schema)
    if not kwargs.get("server") or not _CACHED.match(command) or "IDENTIFIER(" in command.upper() or "$" in command:
        return _execute(self, command, params, *args, **kwargs)
    params = kwargs.get("binding_params")
    params = list(params) if isinstance(params, tuple) else params
    with _lock:
        if (statements := _rewritten.get(key)) is not None:
            _rewritten.move_to_end(key)
    if statements is None:
        self._rewriting = []
        try:
            _execute(self, command, *args, **kwargs)
            with _lock:
                _rewritten[key] = self._rewriting
                if len(_rewritten) > _KEPT:
                    _rewritten.popitem(last=False)
        finally:
            del self._rewriting
        return self
    try:
        self._sqlstate = None
        for transformed in statements:  # as FakeSnowflakeCursor.execute runs them
            self._execute(transformed, params if transformed.find(exp.Placeholder) else None)
    except snowflake.connector.errors.ProgrammingError as error:
        self._sqlstate = error.sqlstate
        raise
    return self


def transform_kept(self, expression, params):
    """FakeSnowflakeCursor._transform, noting each statement it makes of one it is to keep."""
    transformed = _transform(self, expression, params)
    if hasattr(self, "_rewriting"):
        self._rewriting.append(transformed)
    return transformed


if __name__ == "__main__":
    fakesnow.arrow.timestamp_to_sf_struct = timestamp_struct_with_nulls
    FakeSnowflakeCursor.execute = execute_rewritten_once
    FakeSnowflakeCursor._transform = transform_kept
    app.add_middleware(LoginAsSnowflakeAnswers)
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
