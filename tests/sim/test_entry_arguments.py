"""An entry point's arguments, as its tracer hears them, are what
``inspect.Signature.bind`` with the defaults applied gives, for every way of calling
it, and a call Python refuses is refused in Python's words."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import pytest

from vmintro.sim.errors import _binder


def vmalloc(self: object, size: int, owner: str = "", gfp: int = 0x1F0) -> None: ...


def varargs(self: object, *rest: int, flag: int = 0) -> None: ...


CALLS = [
    ((None, 4096), {}),
    ((None, 4096, "x"), {}),
    ((None,), {"size": 4096}),
    ((None,), {"size": 4096, "gfp": 1}),
    ((), {"self": None, "size": 8192, "owner": "y", "gfp": 2}),
    ((None, 4096), {"gfp": 3}),
    ((None, 4096, "x", 4), {}),
    ((None, 4096), {"size": 1}),  # given twice
    ((None,), {}),  # size missing
    ((None, 1, "x", 2, 3), {}),  # too many
    ((None, 1), {"colour": 2}),  # no such parameter
]


@pytest.mark.parametrize(
    ("fn", "args", "kwargs"), [(f, a, k) for f in (vmalloc, varargs) for a, k in CALLS]
)
def test_arguments_are_what_bind_gives(
    fn: Callable[..., None], args: tuple[object, ...], kwargs: dict[str, object]
) -> None:
    signature = inspect.signature(fn)
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError as e:
        with pytest.raises(TypeError, match=str(e)):
            _binder(signature)(args, kwargs)
        return
    bound.apply_defaults()
    assert dict(_binder(signature)(args, kwargs)) == dict(bound.arguments)
