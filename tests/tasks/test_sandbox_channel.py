import json
import math

import pytest

from assay.tasks.sandbox_channel import ChannelError, decode, encode, rebuild_exception

PLAIN = [
    None,
    True,
    False,
    0,
    -7,
    10**400,
    2**64 + 1,
    0.1,
    -0.0,
    float("inf"),
    1e-320,
    complex(1.5, -2),
    "",
    'héllo\n"quoted"',
    "\ud800",
    b"\x00\xff",
    bytearray(b"ab"),
    [1, [2, [3]]],
    (1, "a", (None,)),
    set(),
    {1, 2.5, "x"},
    frozenset({(1, 2)}),
    {"a": 1, 2: [3], (1, 2): {"nested": True}, None: b""},
]


@pytest.mark.parametrize("value", PLAIN, ids=repr)
def test_plain_data_round_trips_exactly_with_its_type(value):
    back = decode(json.loads(json.dumps(encode(value))))
    assert back == value and type(back) is type(value)
    if isinstance(value, float):
        assert math.copysign(1, back) == math.copysign(1, value)


def test_nan_crosses_as_nan():
    assert math.isnan(decode(encode(float("nan"))))


def test_anything_but_plain_data_is_refused():
    class Anything:
        def __eq__(self, other):
            return True

    class Five(int):
        def __eq__(self, other):
            return True

    for value in (Anything(), Five(5), [1, Five(5)], {"k": Anything()}, (x for x in []), len, object()):
        with pytest.raises(TypeError, match="cannot cross"):
            encode(value)
    deep = 1
    for _ in range(1000):
        deep = [deep]
    with pytest.raises(TypeError, match="nested too deeply"):
        encode(deep)


@pytest.mark.parametrize(
    "form",
    [
        "5",
        5,
        [],
        ["i"],
        ["i", 5],
        ["i", "zz"],
        ["b", 1],
        ["s", 3],
        ["q", 1],
        ["l", "abc"],
        ["d", [[["l", []], ["n"]]]],
        ["d", [["n"]]],
        ["f", "0x1.0p+999999"],
        {"value": 1},
    ],
)
def test_malformed_forms_are_channel_errors_not_values(form):
    with pytest.raises(ChannelError):
        decode(form)


def test_exceptions_are_rebuilt_as_builtins_only():
    assert type(rebuild_exception({"type": "ValueError", "message": "bad"})) is ValueError
    error = rebuild_exception({"type": "FileNotFoundError", "message": "No such file", "errno": 2, "filename": "/x"})
    assert type(error) is FileNotFoundError and error.errno == 2 and str(error) == "[Errno 2] No such file: '/x'"
    for name in ("SystemExit", "KeyboardInterrupt", "MyError", "open"):
        rebuilt = rebuild_exception({"type": name, "message": "m"})
        assert type(rebuilt) is RuntimeError
    assert type(rebuild_exception("junk")) is RuntimeError
