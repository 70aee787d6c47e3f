"""Schemathesis hooks for wagate's fuzz run (tests/api/fuzz.rs).

- The gateway connects to URLs its callers give it (a media `url`, a webhook `url`). Generated
  data could name any host, so every `url` in a body is pointed at a closed loopback port before
  the request is sent: the run never makes the gateway reach beyond this machine.
- Revoking the key the fuzzer authenticates with would turn the rest of the run into 401s, and
  deleting the seeded linked session `default` would leave sends nothing to queue for: those two
  are spared (other keys and sessions are deleted as generated).
- The run has no browser, so starting a session fails with 502 `SESSION_FAILED` (or 503
  `BROWSER_UNAVAILABLE`): documented answers, not faults. Every other 5xx still fails the run.
"""

import json
import os

import schemathesis

SAFE_URL = os.environ["WAGATE_FUZZ_SAFE_URL"]
KEEP_KEY_ID = os.environ.get("WAGATE_FUZZ_KEEP_KEY_ID")
NO_BROWSER = {"SESSION_FAILED", "BROWSER_UNAVAILABLE"}


def _defuse(value):
    if isinstance(value, dict):
        return {k: (SAFE_URL if k == "url" else _defuse(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_defuse(v) for v in value]
    return value


@schemathesis.hook
def before_call(context, case, kwargs):
    if isinstance(case.body, (dict, list)):
        case.body = _defuse(case.body)
    if case.path_parameters and case.operation.path == "/api/v1/apikeys/{id}/":
        if str(case.path_parameters.get("id")) == KEEP_KEY_ID:
            case.path_parameters["id"] = 999_999_999
    if case.method.upper() == "DELETE" and case.operation.path == "/api/v1/sessions/":
        body = case.body if isinstance(case.body, dict) else {}
        query = case.query or {}
        named = body.get("session", query.get("session", "default"))
        if isinstance(named, str) and named.strip() == "default":
            case.query = {**query, "session": "spare"}
            if "session" in body:
                case.body = {**body, "session": "spare"}


@schemathesis.hook
def filter_failure(context, failure, case, response):
    if type(failure).__name__ != "ServerError" or response is None:
        return True
    try:
        code = json.loads(response.content).get("error_code")
    except (ValueError, AttributeError):
        return True
    return code not in NO_BROWSER
