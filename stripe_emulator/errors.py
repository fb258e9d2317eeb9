"""Errors in Stripe's own format: `{"error": {"type", "message", "code", "param", "doc_url"}}`."""

from __future__ import annotations


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
        html: str | None = None,
    ):
        """`html`: answer with this page instead of Stripe's JSON, as a proxy in between would."""
        super().__init__(message)
        self.status = status
        self.headers = headers or {}
        self.html = html
        self.body = {"error": {"message": message, "type": type}}
        if code:
            self.body["error"]["code"] = code
            self.body["error"]["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
        if param:
            self.body["error"]["param"] = param


def no_such(object_name: str, object_id: str, param: str = "id") -> ApiError:
    return ApiError(404, f"No such {object_name}: '{object_id}'", code="resource_missing", param=param)


def unknown_parameter(name: str) -> ApiError:
    return ApiError(400, f"Received unknown parameter: {name}", code="parameter_unknown", param=name)


def invalid_integer(param: str, value: object) -> ApiError:
    return ApiError(400, f"Invalid integer: {value}", code="parameter_invalid_integer", param=param)
