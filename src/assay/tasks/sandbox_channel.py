"""The plain-data channel between a trusted test process and sandboxed candidate code.

Grading generated code safely needs the verdict to be decided where the
candidate cannot reach it. So the item's tests run in a trusted process (the
*checker*) and the candidate runs in the sandbox (the *server*); each call the
tests make to the candidate crosses a pair of pipes as a JSON line holding
plain data only: None, bools, ints, floats, complex numbers, strings, bytes,
and lists, tuples, sets, frozensets and dicts of them. Exceptions cross as a
builtin exception type name and a message. Anything else the candidate
returns (an object whose ``__eq__`` is always true, a generator, an instance
of its own class) cannot be encoded and the call fails with ``TypeError``.

The decoder builds only exact builtin types, so whatever bytes the candidate
writes into its end of the pipes, the checker sees at worst a wrong value or
a broken channel, both of which fail the item. The server holds no channel
to the harness and no way to report a result: the checker alone writes the
verdict, on a pipe the sandbox never has.

This module is stdlib-only on purpose: its source is run as-is in both child
interpreters (``python -I -c SOURCE``), so nothing from the harness needs to
be importable inside the sandbox.
"""

from __future__ import annotations

import builtins
import json
import os
import sys
from typing import Any

# One message may not exceed this many bytes: a candidate returning a huge
# value fails the call instead of exhausting the checker's memory.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
# Values nested deeper than this are refused (the decoder recurses).
MAX_DEPTH = 200


class ChannelError(Exception):
    """The other side broke the protocol, closed the channel or ran out of time."""


class ChannelTimeout(ChannelError):
    pass


def encode(value: Any, depth: int = 0) -> Any:
    """A JSON-ready tagged form of a plain-data value; ``TypeError`` for anything else.

    Types are tested exactly (``type(x) is int``), so subclasses of builtins,
    which can override ``__eq__``, are refused too.
    """
    if depth > MAX_DEPTH:
        raise TypeError("value nested too deeply to cross the sandbox boundary")
    kind = type(value)
    if value is None:
        return ["n"]
    if kind is bool:
        return ["b", value]
    if kind is int:
        return ["i", hex(value)]
    if kind is float:
        return ["f", value.hex()]
    if kind is complex:
        return ["c", value.real.hex(), value.imag.hex()]
    if kind is str:
        return ["s", value]
    if kind is bytes or kind is bytearray:
        return ["y" if kind is bytes else "Y", value.hex()]
    tags = {list: "l", tuple: "t", set: "S", frozenset: "F"}
    if kind in tags:
        return [tags[kind], [encode(v, depth + 1) for v in value]]
    if kind is dict:
        return ["d", [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in value.items()]]
    raise TypeError(f"a {kind.__name__} cannot cross the sandbox boundary (only plain data can)")


def decode(form: Any, depth: int = 0) -> Any:
    """The value a tagged form stands for, built from exact builtin types; ``ChannelError`` if malformed."""
    if depth > MAX_DEPTH:
        raise ChannelError("value nested too deeply")
    if type(form) is not list or not form or type(form[0]) is not str:
        raise ChannelError("malformed value")
    tag, rest = form[0], form[1:]
    try:
        if tag == "n" and not rest:
            return None
        if tag == "b" and len(rest) == 1 and type(rest[0]) is bool:
            return True if rest[0] else False
        if tag == "i" and len(rest) == 1 and type(rest[0]) is str:
            return int(rest[0], 16)
        if tag == "f" and len(rest) == 1 and type(rest[0]) is str:
            return float.fromhex(rest[0])
        if tag == "c" and len(rest) == 2 and all(type(r) is str for r in rest):
            return complex(float.fromhex(rest[0]), float.fromhex(rest[1]))
        if tag == "s" and len(rest) == 1 and type(rest[0]) is str:
            return str(rest[0])
        if tag in ("y", "Y") and len(rest) == 1 and type(rest[0]) is str:
            data = bytes.fromhex(rest[0])
            return data if tag == "y" else bytearray(data)
        if tag in ("l", "t", "S", "F") and len(rest) == 1 and type(rest[0]) is list:
            items = [decode(v, depth + 1) for v in rest[0]]
            return {"l": list, "t": tuple, "S": set, "F": frozenset}[tag](items)
        if tag == "d" and len(rest) == 1 and type(rest[0]) is list:
            pairs = rest[0]
            if not all(type(p) is list and len(p) == 2 for p in pairs):
                raise ChannelError("malformed dict")
            return {decode(k, depth + 1): decode(v, depth + 1) for k, v in pairs}
    except (ValueError, TypeError, OverflowError) as exc:  # bad hex, unhashable key
        raise ChannelError(f"malformed value: {exc}") from None
    raise ChannelError(f"malformed value (tag {tag!r})")


def encode_exception(exc: BaseException) -> dict[str, Any]:
    errno = getattr(exc, "errno", None)
    try:
        message = str(exc)[:500]
    except BaseException:  # a candidate's exception whose __str__ raises
        message = ""
    payload = {"type": type(exc).__name__, "message": message, "errno": errno if type(errno) is int else None}
    if isinstance(exc, OSError) and type(exc.strerror) is str:
        # Rebuilt as OSError(errno, strerror, filename), which formats its own message.
        payload["message"] = exc.strerror[:500]
        payload["filename"] = str(exc.filename)[:500] if exc.filename is not None else None
    return payload


def rebuild_exception(payload: Any) -> Exception:
    """A builtin exception of the named type carrying the message.

    Only subclasses of ``Exception`` found in ``builtins`` are rebuilt;
    anything else (the candidate's own classes, ``SystemExit``) becomes a
    ``RuntimeError`` naming it, so nothing the candidate defines ever reaches
    the checker's ``except`` clauses.
    """
    if type(payload) is not dict:
        return RuntimeError("candidate raised an exception the channel could not read")
    name, message, errno = payload.get("type"), payload.get("message"), payload.get("errno")
    name = name if type(name) is str else "Exception"
    message = message if type(message) is str else ""
    cls = getattr(builtins, name, None)
    if isinstance(cls, type) and issubclass(cls, Exception):
        try:
            if issubclass(cls, OSError) and type(errno) is int:
                filename = payload.get("filename")
                return cls(errno, message, filename) if type(filename) is str else cls(errno, message)
            return cls(message) if message else cls()
        except Exception:
            pass
    return RuntimeError(f"{name}: {message}" if message else name)


def send(fd: int, payload: Any) -> None:
    data = (json.dumps(payload, ensure_ascii=True) + "\n").encode()
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class Reader:
    """Reads newline-framed JSON messages from a pipe, bounded in size and (optionally) time."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = b""

    def read(self, deadline: float | None = None) -> Any:
        import select
        import time

        while b"\n" not in self.buffer:
            if len(self.buffer) > MAX_MESSAGE_BYTES:
                raise ChannelError(f"message over {MAX_MESSAGE_BYTES // 1024**2} MiB")
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                    raise ChannelTimeout("no reply before the deadline")
            chunk = os.read(self.fd, 1 << 16)
            if not chunk:
                raise ChannelError("the sandbox closed the channel")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        try:
            return json.loads(line)
        except (ValueError, RecursionError) as exc:
            raise ChannelError(f"unreadable message: {str(exc)[:100]}") from None


# ---------------------------------------------------------------- server side
# Runs inside the sandbox. Nothing here is trusted by the checker: the
# candidate shares this process and may replace any of it.


def serve(request_fd: int, reply_fd: int) -> None:
    """Load the candidate program sent first, then answer calls until the channel closes."""
    reader = Reader(request_fd)
    first = reader.read()
    namespace: dict[str, Any] = {"__name__": "candidate", "__builtins__": builtins}
    try:
        exec(compile(first["program"], "program.py", "exec"), namespace)
    except BaseException as exc:  # noqa: BLE001 - any failure to load is reported
        _flush()
        send(reply_fd, {"load_error": encode_exception(exc)})
        return
    # Output is flushed before each reply: the sandbox may be killed as soon
    # as the checker has its verdict.
    _flush()
    send(reply_fd, {"loaded": True})
    while True:
        try:
            request = reader.read()
        except ChannelError:
            return
        try:
            function = namespace.get(request["name"])
            if not callable(function):
                raise NameError(f"name {request['name']!r} is not defined by the candidate")
            args = [decode(a) for a in request["args"]]
            kwargs = {k: decode(v) for k, v in request["kwargs"].items()}
            result = function(*args, **kwargs)
            try:
                reply = {"value": encode(result)}
            except RecursionError:
                raise TypeError("value nested too deeply to cross the sandbox boundary") from None
        except BaseException as exc:  # noqa: BLE001 - the candidate's failure is the reply
            reply = {"raised": encode_exception(exc)}
        _flush()
        send(reply_fd, reply)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001 - the candidate may have replaced or closed them
            pass


# --------------------------------------------------------------- checker side
# Runs in the trusted process with the dataset's prompt and tests.


class Candidate:
    """Stands for one function of the sandboxed candidate: calling it is a round trip."""

    def __init__(self, channel: "Channel", name: str) -> None:
        self._channel, self.__name__ = channel, name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._channel.call(self.__name__, args, kwargs)

    def __repr__(self) -> str:
        return f"<sandboxed function {self.__name__}>"


class Channel:
    def __init__(self, request_fd: int, reply_fd: int, deadline: float) -> None:
        self.request_fd, self.reader, self.deadline = request_fd, Reader(reply_fd), deadline
        # The first broken-channel error: once set the verdict is a failure
        # whatever the tests do afterwards (they could catch the exception).
        self.broken: ChannelError | None = None

    def load(self, program: str) -> dict[str, Any]:
        send(self.request_fd, {"program": program})
        reply = self.reader.read(self.deadline)
        if type(reply) is not dict:
            raise ChannelError("malformed reply")
        return reply

    def call(self, name: str, args: tuple, kwargs: dict) -> Any:
        if self.broken is not None:
            raise self.broken
        request = {"name": name, "args": [encode(a) for a in args], "kwargs": {k: encode(v) for k, v in kwargs.items()}}
        try:
            send(self.request_fd, request)
            reply = self.reader.read(self.deadline)
            if type(reply) is dict and "value" in reply:
                return decode(reply["value"])
            if type(reply) is dict and "raised" in reply:
                raise rebuild_exception(reply["raised"])
            raise ChannelError("malformed reply")
        except (ChannelError, OSError) as exc:
            if isinstance(exc, OSError):
                exc = ChannelError(f"the sandbox closed the channel ({exc.strerror})")
            self.broken = exc
            raise exc from None


def _test_names(test: str) -> set[str]:
    """Every global name the test code reads (in any nested function)."""
    names: set[str] = set()
    stack = [compile(test, "test.py", "exec")]
    while stack:
        code = stack.pop()
        names.update(code.co_names)
        stack.extend(c for c in code.co_consts if hasattr(c, "co_names"))
    return names


def check(spec: dict[str, Any], request_fd: int, reply_fd: int, deadline: float) -> dict[str, Any]:
    """Run the item's tests against the sandboxed candidate; the verdict as a plain dict.

    The prompt runs here first (its imports and helper functions are what the
    tests rely on, in their dataset form), then the entry point and any other
    name the tests read but nothing trusted defines are bound to sandboxed
    functions, then the tests run: ``check(entry_point)`` when they define
    ``check`` (HumanEval), else the statements themselves (MBPP's
    ``assert f(x) == y``).
    """
    channel = Channel(request_fd, reply_fd, deadline)
    try:
        loaded = channel.load(spec["program"])
    except ChannelTimeout as exc:
        return {"status": "timeout", "message": str(exc)}
    except (ChannelError, OSError) as exc:
        return {"status": "broken", "message": str(exc)}
    if "load_error" in loaded:
        error = rebuild_exception(loaded["load_error"])
        return {
            "status": "failed",
            "type": type(error).__name__,
            "message": str(error)[:500],
            "errno": getattr(error, "errno", None),
            "where": "candidate",
        }
    namespace: dict[str, Any] = {"__name__": "__checker__", "__builtins__": builtins}
    try:
        exec(compile(spec["prompt"], "prompt.py", "exec"), namespace)
    except BaseException:  # noqa: BLE001 - a prompt that is not runnable on its own adds nothing
        namespace = {"__name__": "__checker__", "__builtins__": builtins}
    entry = spec.get("entry_point")
    try:
        wanted = _test_names(spec["test"])
    except SyntaxError as exc:
        return {"status": "error", "message": f"the item's test code does not compile: {exc}"}
    for name in wanted - set(namespace) - set(dir(builtins)):
        namespace[name] = Candidate(channel, name)
    if entry:
        namespace[entry] = Candidate(channel, entry)
    try:
        exec(compile(spec["test"], "test.py", "exec"), namespace)
        tests = namespace.get("check")
        if entry and callable(tests) and not isinstance(tests, Candidate):
            tests(namespace[entry])
    except BaseException as exc:  # noqa: BLE001 - the tests failed, however they failed
        if channel.broken is not None:
            return _broken(channel.broken)
        return {
            "status": "failed",
            "type": type(exc).__name__,
            "message": str(exc)[:500],
            "errno": getattr(exc, "errno", None),
        }
    if channel.broken is not None:
        return _broken(channel.broken)
    return {"status": "passed"}


def _broken(exc: ChannelError) -> dict[str, Any]:
    return {"status": "timeout" if isinstance(exc, ChannelTimeout) else "broken", "message": str(exc)}


def _checker_main() -> None:
    import signal
    import time

    config = json.loads(sys.argv[1])
    # Die with the harness: a checker must never outlive the run it grades.
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != config["parent"]:
        os._exit(1)
    with open(config["spec"], encoding="utf-8") as f:
        spec = json.load(f)
    deadline = time.monotonic() + config["timeout"]
    verdict_fd = config["verdict_fd"]
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 3000))
    try:
        verdict = check(spec, config["request_fd"], config["reply_fd"], deadline)
    except BaseException as exc:  # noqa: BLE001
        verdict = {"status": "error", "message": f"{type(exc).__name__}: {exc}"[:500]}
    send(verdict_fd, verdict)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:  # noqa: BLE001
        pass
    os._exit(0)
