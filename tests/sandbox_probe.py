"""A sandbox handler for the tests: each payload names a way for the child to fail."""

from __future__ import annotations

import ctypes
import os
import time


def handle(payload: bytes) -> bytes:
    command, _, argument = payload.partition(b" ")
    if command == b"echo":
        return str(os.getpid()).encode() + b" " + argument
    if command == b"abort":
        os.abort()
    if command == b"segfault":
        ctypes.string_at(0)
    if command == b"hog":  # grows until the address-space limit says no
        hoard = []
        while True:
            hoard.append(bytes(64 * 1024 * 1024))  # calloc: address space, no page touched
    if command == b"raise":
        raise ValueError(argument.decode())
    if command == b"sleep":
        time.sleep(float(argument))
        return b"awake"
    if command == b"calamine":  # the real thing: python-calamine on a file it can't hold
        import python_calamine

        with python_calamine.CalamineWorkbook.from_path(argument.decode()) as workbook:
            workbook.get_sheet_by_index(0)
        return b"read"
    if command == b"print":  # a library printing to stdout must not corrupt the channel
        print("noise on stdout")
        return b"quiet"
    raise AssertionError(payload)
