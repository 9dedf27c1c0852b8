"""Work started now in a thread of its own, its result asked for later."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar, cast

T = TypeVar("T")


class Ahead(Generic[T]):
    """``function(*args)`` run in a thread of its own from now on; ``result()`` waits for it
    and returns its value, or raises its error in the caller's thread.

    For work that releases the GIL (calamine, polars, hashlib, DuckDB) or that another
    process step can overlap: a load reads and hashes its file while it writes its log row;
    ``wics load`` opens the Dagster instance while the file loads. A ``daemon`` thread does not
    keep the process alive when nobody asks for its result.
    """

    def __init__(self, name: str, function: Callable[..., T], *args: Any,
                 daemon: bool = False) -> None:
        self._value: T | None = None
        self._error: BaseException | None = None
        self.seconds = 0.0  # the function's own time
        self._thread = threading.Thread(target=self._run, args=(function, *args), name=name,
                                        daemon=daemon)
        self._thread.start()

    def _run(self, function: Callable[..., T], *args: Any) -> None:
        started = time.perf_counter()
        try:
            self._value = function(*args)
        except BaseException as error:  # handed to the caller by result()
            self._error = error
        self.seconds = time.perf_counter() - started

    def wait(self) -> None:
        self._thread.join()

    def result(self) -> T:
        self.wait()
        if self._error is not None:
            raise self._error
        return cast(T, self._value)
