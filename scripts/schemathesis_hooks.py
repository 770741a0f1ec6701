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


# Read your writes (`?min_seq=STREAM:SEQ`, `Consistency: STREAM:SEQ`): a position the read models
# have not reached is answered, by design, with 503 `not_yet_projected` after the API has waited
# 1.5 s for it (tests/e2e/ledger.rs shows both answers). The generated positions are mostly far
# beyond the demo's streams, so each would cost the wait and count as a server error: they are
# replaced by one every projected stream of the demo has reached, which still takes the parameter
# through its parsing and its removal from the query.
REACHED = "PROPOSALS:1"


@schemathesis.hook
def map_query(ctx, query):
    if query and "min_seq" in query:
        query["min_seq"] = REACHED
    return query


@schemathesis.hook
def map_headers(ctx, headers):
    if headers:
        for name in list(headers):
            if name.lower() == "consistency":
                headers[name] = REACHED
    return headers
