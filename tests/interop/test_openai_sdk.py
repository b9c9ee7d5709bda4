"""Interop: the official OpenAI Python SDK talking to a running Warden gateway.

Run by the Rust integration test `interop::openai_python_sdk`, which starts the gateway (with a
stand-in agent behind it) and passes WARDEN_BASE_URL (ending in /v1) and WARDEN_API_KEY.
Exits non-zero on the first failed check.
"""

import os
import sys

import openai
from openai import AuthenticationError, NotFoundError, OpenAI, PermissionDeniedError

BASE_URL = os.environ["WARDEN_BASE_URL"]
client = OpenAI(base_url=BASE_URL, api_key=os.environ["WARDEN_API_KEY"], max_retries=0, timeout=30)
GREEN = "Summarize our AI governance policy for internal use."


def error_body(exc):
    """The `error` object of an SDK error, whichever way the SDK unwrapped it."""
    body = exc.body if isinstance(exc.body, dict) else {}
    return body.get("error", body)


def check_completion():
    raw = client.chat.completions.with_raw_response.create(
        model="openclaw", messages=[{"role": "user", "content": GREEN}], user="employee-001"
    )
    assert raw.headers["x-warden-status"] == "executed", raw.headers
    assert raw.headers["x-warden-risk"] == "green", raw.headers
    assert len(raw.headers["x-warden-trace-id"]) == 36
    completion = raw.parse()
    assert completion.id.startswith("chatcmpl_"), completion.id
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content.startswith("[stand-in agent]"), completion
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.total_tokens > 0


def check_stream():
    stream = client.chat.completions.create(
        model="openclaw",
        messages=[{"role": "user", "content": GREEN}],
        stream=True,
        stream_options={"include_usage": True},
    )
    text, finish, usage, ids = "", None, None, set()
    for chunk in stream:
        ids.add(chunk.id)
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            text += choice.delta.content or ""
            finish = choice.finish_reason or finish
    assert text.startswith("[stand-in agent]") and GREEN in text, text
    assert finish == "stop", finish
    assert usage is not None and usage.total_tokens > 0
    assert len(ids) == 1, ids


def check_blocked():
    try:
        client.chat.completions.create(
            model="openclaw",
            messages=[{"role": "user", "content": "Transfer funds from treasury to vendor account immediately."}],
        )
    except PermissionDeniedError as exc:
        assert exc.status_code == 403
        err = error_body(exc)
        assert err["type"] == "governance_blocked", err
        assert err["code"] == "red.money_movement", err
        assert "blocked by governance policy" in err["message"], err
        assert exc.response.headers["x-warden-status"] == "blocked"
    else:
        raise AssertionError("a red request must raise PermissionDeniedError")


def check_blocked_stream():
    try:
        client.chat.completions.create(
            model="openclaw",
            messages=[{"role": "user", "content": "Run a shell command to archive the home directory and upload it."}],
            stream=True,
        )
    except PermissionDeniedError as exc:
        assert error_body(exc)["code"] == "red.shell", error_body(exc)
    else:
        raise AssertionError("a red streaming request must raise PermissionDeniedError")


def check_pending_approval():
    try:
        client.chat.completions.create(
            model="openclaw",
            messages=[{"role": "user", "content": "Draft an email to finance about the Q1 budget."}],
        )
    except PermissionDeniedError as exc:
        err = error_body(exc)
        assert err["type"] == "approval_required", err
        assert err["trace_id"] in err["message"], err
    else:
        raise AssertionError("an amber request must be held without auto-approval")


def check_multi_turn_with_the_sdks_own_message():
    """The SDK's own answer object sent back as history (its null fields and all) is accepted."""
    messages = [{"role": "user", "content": GREEN}]
    first = client.chat.completions.create(model="openclaw", messages=messages)
    messages.append(first.choices[0].message)
    messages.append({"role": "user", "content": "Thanks! Now make it three bullet points."})
    second = client.chat.completions.create(model="openclaw", messages=messages)
    assert second.choices[0].message.content.startswith("[stand-in agent]"), second


def check_responses():
    raw = client.responses.with_raw_response.create(model="openclaw", input=GREEN, instructions="Be brief.")
    assert raw.headers["x-warden-status"] == "executed", raw.headers
    response = raw.parse()
    assert response.id.startswith("resp_"), response.id
    assert response.output_text.startswith("[stand-in agent]"), response.output_text
    text = ""
    with client.responses.stream(model="openclaw", input=GREEN) as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                text += event.delta
        final = stream.get_final_response()
    assert text.startswith("[stand-in agent]") and final.status == "completed", (text, final.status)
    try:
        client.responses.create(model="openclaw", input="Transfer funds from treasury to vendor account immediately.")
    except PermissionDeniedError as exc:
        assert error_body(exc)["code"] == "red.money_movement", error_body(exc)
    else:
        raise AssertionError("a red Responses request must raise PermissionDeniedError")


def check_models_and_errors():
    ids = [m.id for m in client.models.list()]
    assert "openclaw" in ids, ids
    try:
        client.chat.completions.create(model="gpt-17", messages=[{"role": "user", "content": "hi"}])
    except NotFoundError as exc:
        assert error_body(exc)["code"] == "model_not_found"
    else:
        raise AssertionError("an unknown model must raise NotFoundError")
    bad = OpenAI(base_url=BASE_URL, api_key="sk-wrong", max_retries=0)
    try:
        bad.chat.completions.create(model="openclaw", messages=[{"role": "user", "content": GREEN}])
    except AuthenticationError as exc:
        assert exc.status_code == 401
    else:
        raise AssertionError("a wrong key must raise AuthenticationError")


CHECKS = [
    check_completion,
    check_stream,
    check_blocked,
    check_blocked_stream,
    check_pending_approval,
    check_multi_turn_with_the_sdks_own_message,
    check_responses,
    check_models_and_errors,
]

if __name__ == "__main__":
    print(f"openai {openai.__version__} against {BASE_URL}")
    for check in CHECKS:
        check()
        print(f"ok {check.__name__}")
    print(f"{len(CHECKS)} passed, 0 failed")
    sys.exit(0)
