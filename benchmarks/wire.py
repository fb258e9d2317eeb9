"""What a client sends a cloud warehouse, counted on the wire: a reverse proxy on loopback in
front of a local emulator (fakesnow, bqemulator) that forwards every request unchanged and
counts the requests that are statements or jobs, and the bytes of their bodies. The emulators'
speed says nothing about the services', so the backfill benchmark reports these instead.

- Snowflake: every statement is a POST to /queries/v1/query-request whose JSON body holds its
  SQL (`sqlText`) and, for an array binding, its rows.
- BigQuery: every query is a POST to …/jobs (or …/queries) and every load an upload to
  /upload/…/jobs; the rest (polling a job, reading results, the table API) is not counted as a
  statement but its bytes are."""

from __future__ import annotations

import gzip
import http.client
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization", "proxy-authenticate"}


def snowflake_statement(method: str, path: str, body: bytes, headers) -> str | None:
    """The SQL of a statement request, or None."""
    if method != "POST" or not path.startswith("/queries/v1/query-request"):
        return None
    if headers.get("Content-Encoding") == "gzip":
        body = gzip.decompress(body)
    return json.loads(body).get("sqlText", "")


def bigquery_statement(method: str, path: str, body: bytes, headers) -> str | None:
    """The SQL of a query job, `LOAD` for the start of a load job's upload, or None (a job's
    polling, its results, the table API, an upload's data)."""
    route = path.split("?")[0]
    if method != "POST" or not route.endswith(("/jobs", "/queries")):
        return None
    if route.startswith("/upload/"):
        return "LOAD"
    query = json.loads(body or b"{}")
    return query.get("query") or query.get("configuration", {}).get("query", {}).get("query", "") or "JOB"


class WireCounter:
    """`with WireCounter(upstream_port, snowflake_statement) as wire:` … `wire.port` to connect to;
    `wire.statements` (each statement's SQL, LOAD for a load job) and `wire.bytes_sent`."""

    def __init__(self, upstream_port: int, classify):
        self.upstream_port = upstream_port
        self.classify = classify
        self.statements: list[str] = []
        self.bytes_sent = 0
        self._lock = threading.Lock()
        counter = self

        class Forward(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                sql = counter.classify(self.command, self.path, body, self.headers)
                with counter._lock:
                    counter.bytes_sent += len(body)
                    if sql:
                        counter.statements.append(sql)
                upstream = http.client.HTTPConnection("127.0.0.1", counter.upstream_port, timeout=600)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                upstream.request(self.command, self.path, body=body, headers=headers)
                answer = upstream.getresponse()
                data = answer.read()
                self.send_response(answer.status, answer.reason)
                for name, value in answer.getheaders():
                    if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                upstream.close()

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Forward)
        self.port = self._server.server_address[1]

    def __enter__(self) -> WireCounter:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reset(self) -> None:
        with self._lock:
            self.statements.clear()
            self.bytes_sent = 0
