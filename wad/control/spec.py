"""One control method: the params it requires, those it may take, and what it calls.

Apart from the method table so that a part of wad with methods of its own (the
simulator) can declare them without importing the table that lists them."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wad.control.protocol import ControlError

__all__ = ["Spec"]


@dataclass(frozen=True)
class Spec:
    """A method: the params it requires, those it may take, and what it calls."""

    call: Callable[[dict[str, Any]], Any]
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    open: bool = False  # takes further params (passed on as they are)

    async def __call__(self, params: dict[str, Any]) -> Any:
        missing = [name for name in self.required if params.get(name) in (None, "")]
        if missing:
            raise ControlError("bad_request", f"missing param(s): {', '.join(missing)}")
        if not self.open:
            unknown = sorted(set(params) - set(self.required) - set(self.optional))
            if unknown:
                raise ControlError("bad_request", f"unknown param(s): {', '.join(unknown)}")
        result = self.call(params)
        if inspect.isawaitable(result):
            result = await result
        return {} if result is None else result
