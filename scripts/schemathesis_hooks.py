"""Custom schemathesis checks for Bündel's HTTP API (loaded by scripts/schemathesis)."""

import schemathesis


@schemathesis.check
def error_is_json_with_code(ctx, response, case):
    """Every error response (4xx, 5xx) is JSON `{"error": {"code": "...", "message": "..."}}`."""
    if response.status_code < 400:
        return None
    content_type = response.headers.get("content-type", [""])
    if isinstance(content_type, list):
        content_type = content_type[0] if content_type else ""
    if not content_type.startswith("application/json"):
        raise AssertionError(f"error {response.status_code} is not JSON: {content_type!r}")
    try:
        body = response.json()
    except ValueError as error:
        raise AssertionError(f"error {response.status_code} has no JSON body: {error}") from error
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or not isinstance(error.get("code"), str) or not error["code"]:
        raise AssertionError(f"error {response.status_code} without error.code: {body!r}")
    if not isinstance(error.get("message"), str):
        raise AssertionError(f"error {response.status_code} without error.message: {body!r}")
    return None
