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
"""

from __future__ import annotations

import json
import sys

import fakesnow.arrow
import pyarrow as pa
import pyarrow.compute as pc
import uvicorn
from fakesnow.server import app
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


if __name__ == "__main__":
    fakesnow.arrow.timestamp_to_sf_struct = timestamp_struct_with_nulls
    app.add_middleware(LoginAsSnowflakeAnswers)
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
