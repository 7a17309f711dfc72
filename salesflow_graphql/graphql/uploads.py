"""Multipart uploads (GraphQL multipart request spec): the form is checked before it is used.

Strawberry puts each file where the form's ``map`` says, walking ``operations``
without checking that the path exists, so a ``map`` that does not fit its
``operations`` (a path through ``null``, past a list's end, a map that is not
an object of lists of paths, a file field that was not sent) crashed it: HTTP
500. :func:`upload_map_problem` says what is wrong with such a form, and
:func:`parse_multipart` refuses it with HTTP 400 and that reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cross_web import HTTPException
from strawberry.file_uploads.utils import replace_placeholders_with_files


async def parse_multipart(view: Any, request: Any) -> dict[str, Any]:
    """Strawberry's ``parse_multipart`` with ``operations`` and ``map`` checked first."""
    try:
        form_data = await request.get_form_data()
    except ValueError as exc:
        raise HTTPException(400, "Unable to parse the multipart body") from exc
    operations = _json_field(view, form_data.form, "operations")
    files_map = _json_field(view, form_data.form, "map")
    problem = upload_map_problem(operations, files_map, form_data.files)
    if problem is not None:
        raise HTTPException(400, f"Invalid multipart upload: {problem}")
    return replace_placeholders_with_files(operations, files_map, form_data.files)


def _json_field(view: Any, form: Mapping[str, Any], name: str) -> Any:
    value = form.get(name, "{}")
    return view.parse_json(value) if isinstance(value, str | bytes) else value


def upload_map_problem(operations: Any, files_map: Any, files: Mapping[str, Any]) -> str | None:
    """What is wrong with a multipart form's ``operations`` and ``map``; None when they fit."""
    if not isinstance(operations, dict | list):
        return "the 'operations' field must be a JSON object."
    if not isinstance(files_map, dict):
        return "the 'map' field must be a JSON object of file field names to lists of paths."
    for name, paths in files_map.items():
        if name not in files:
            return f"the file field {name!r} named in 'map' was not sent."
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            return f"'map' must give the file field {name!r} a list of paths."
        for path in paths:
            if not _settable(operations, path.split(".")):
                return f"the 'map' path {path!r} does not lead to a value in 'operations'."
    return None


def _settable(target: Any, keys: list[str]) -> bool:
    """Whether every key of ``keys`` but the last exists, and the last can be set."""
    for position, key in enumerate(keys):
        last = position == len(keys) - 1
        if isinstance(target, list):
            if not key.isdigit() or int(key) >= len(target):
                return False
            if last:
                return True
            target = target[int(key)]
        elif isinstance(target, dict):
            if last:
                return True
            if key not in target:
                return False
            target = target[key]
        else:
            return False
    return False  # an empty path
