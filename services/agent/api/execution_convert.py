"""Live execution messages: ExecutionCommand -> runner command, runner event -> ExecutionEvent."""

from __future__ import annotations

from typing import Any

from shipyard.type.v1 import execution_pb2 as pb

from libs.core.errors import FieldViolation, Internal, InvalidArgument

_MODES = {
    pb.EXECUTION_MODE_UNSPECIFIED: "query",
    pb.EXECUTION_MODE_QUERY: "query",
    pb.EXECUTION_MODE_BATCH: "batch",
}
_STATUSES = {
    "finished": pb.EXECUTION_STATUS_FINISHED,
    "failed": pb.EXECUTION_STATUS_FAILED,
    "timed_out": pb.EXECUTION_STATUS_TIMED_OUT,
}


def runner_command(command: pb.ExecutionCommand) -> dict[str, Any] | None:
    """What the runner's live session is asked; None for a command that asks nothing."""
    action = command.action
    if action == pb.EXECUTION_ACTION_RUN:
        if not command.code:
            raise _invalid("command.code", "a RUN command needs code")
        timeout = command.timeout.ToTimedelta().total_seconds()
        return {"op": "run", "mode": _MODES[command.mode], "code": command.code, "timeout": timeout}
    if action == pb.EXECUTION_ACTION_INPUT:
        return {"op": "input", "value": command.input}
    if action == pb.EXECUTION_ACTION_INTERRUPT:
        return {"op": "interrupt"}
    if action == pb.EXECUTION_ACTION_COMPLETE:
        if command.cursor_pos > len(command.code):
            raise _invalid("command.cursor_pos", "the cursor is past the end of the code")
        return {"op": "complete", "code": command.code, "cursor_pos": command.cursor_pos}
    return None


def _invalid(field: str, why: str) -> InvalidArgument:
    return InvalidArgument(f"{field}: {why}", violations=[FieldViolation(field, why)])


def event_pb(event: dict[str, Any]) -> pb.ExecutionEvent:
    try:
        kind = event["event"]
        if kind == "stdout":
            return pb.ExecutionEvent(stdout=str(event["text"]))
        if kind == "stderr":
            return pb.ExecutionEvent(stderr=str(event["text"]))
        if kind == "error":
            return pb.ExecutionEvent(error=str(event["message"]))
        if kind == "display":
            return pb.ExecutionEvent(display=display_pb(event))
        if kind == "input_request":
            request = pb.InputRequest(prompt=event["prompt"], password=bool(event["password"]))
            return pb.ExecutionEvent(input_request=request)
        if kind == "completion":
            completion = pb.Completion(
                matches=[str(m) for m in event["matches"]],
                cursor_start=int(event["cursor_start"]),
                cursor_end=int(event["cursor_end"]),
            )
            return pb.ExecutionEvent(completion=completion)
        if kind == "finished":
            return pb.ExecutionEvent(finished=finished_pb(event))
    except (KeyError, TypeError, ValueError) as exc:
        raise Internal(f"malformed event from the kernel runner: {event!r:.200}") from exc
    raise Internal(f"unknown event from the kernel runner: {event!r:.200}")


def display_pb(display: dict[str, Any]) -> pb.DisplayData:
    data = {str(k): str(v) for k, v in display["data"].items()}
    return pb.DisplayData(data=data, result=bool(display["result"]))


def finished_pb(event: dict[str, Any]) -> pb.ExecutionResult:
    return pb.ExecutionResult(
        status=_STATUSES.get(str(event["status"]), pb.EXECUTION_STATUS_FAILED),
        exit_code=int(event["exit_code"]),
        error_name=str(event["error_name"]),
        error_message=str(event["error_message"]),
    )
