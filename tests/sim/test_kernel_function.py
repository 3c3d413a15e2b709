"""kernel_function's wrapper, in C (``vmintro._simspeedups.KernelCall``) and in
Python: the call path and the oops it gives, and an entry point's arguments as its
tracer hears them, which are what ``inspect.Signature.bind`` with the defaults
applied gives, for every way of calling it (a call Python refuses is refused in
Python's words)."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable

import pytest

import vmintro.sim.errors as errors
from vmintro.accel import simspeedups
from vmintro.sim.errors import (
    CALL_PATH,
    CallResult,
    PageFault,
    _binder,
    kernel_function,
    tracing,
)

REQUIRED = bool(os.environ.get("VMINTRO_REQUIRE_SPEEDUPS")) and not os.environ.get(
    "VMINTRO_PURE_PYTHON"
)


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


@pytest.fixture(params=["python", "c"])
def form(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """kernel_function's wrapper in its Python form, or in C (skipped where not built)."""
    if request.param == "c" and simspeedups is None:
        if REQUIRED:
            pytest.fail("VMINTRO_REQUIRE_SPEEDUPS is set but vmintro._simspeedups is not there")
        pytest.skip("vmintro._simspeedups was not built")
    monkeypatch.setattr(errors, "simspeedups", simspeedups if request.param == "c" else None)
    return str(request.param)


class _Quiet:
    def enter(self, call: str, args: tuple[tuple[str, int | str], ...]) -> None:
        pass

    def leave(self, result: CallResult) -> None:
        pass


def test_the_path_and_the_oops_are_the_kernel_functions(form: str) -> None:
    """While a tracer listens each marked function is on CALL_PATH during its call, and
    a page fault is the oops of the innermost function that is not inline; the
    wrapper is bound as a method and carries the function's name and docstring."""
    seen: list[tuple[str, ...]] = []

    @kernel_function("set_pte", inline=True)
    def set_pte(fault: bool) -> int:
        seen.append(tuple(CALL_PATH))
        if fault:
            raise PageFault(0x10)
        return 7

    @kernel_function("alloc_area_pte")
    def alloc_area_pte(fault: bool) -> int:
        return set_pte(fault)

    class Vm:
        @kernel_function("vmalloc")
        def vmalloc(self, fault: bool = False) -> int:
            """vmalloc's docstring."""
            seen.append(tuple(CALL_PATH))
            return alloc_area_pte(fault) + 1

    vm = Vm()
    assert vm.vmalloc() == 8 and seen == [(), ()]  # no tracer: no path
    with tracing(_Quiet()):
        assert vm.vmalloc(False) == 8
        assert seen[2:] == [("vmalloc",), ("vmalloc", "alloc_area_pte", "set_pte")]
        with pytest.raises(PageFault) as caught:
            vm.vmalloc(True)
        assert caught.value.function == "alloc_area_pte"  # set_pte is inline: its caller's
        assert caught.value.call_path == ("vmalloc",)  # claimed on the way out of it
        assert CALL_PATH == []
    with pytest.raises(PageFault, match="alloc_area_pte"):
        vm.vmalloc(True)
    assert Vm.vmalloc.__name__ == "vmalloc" and Vm.vmalloc.__doc__ == "vmalloc's docstring."
