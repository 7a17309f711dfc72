"""Trusted-documents manifests: the files of ``SALESFLOW_TRUSTED_DOCUMENTS``, read.

Settings read them at start-up (a bad one stops it, naming the variable) and
the persisted-query layer (:mod:`.graphql.persisted`) serves what they list.
"""

from __future__ import annotations

import json
from pathlib import Path

APOLLO_MANIFEST_FORMAT = "apollo-persisted-query-manifest"


class ManifestError(ValueError):
    """A trusted-documents manifest that cannot be read."""


def load_manifest(path: str | Path) -> dict[str, str]:
    """A manifest's documents by id (Apollo's format or GraphQL Code Generator's)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ManifestError(f"{path}: cannot read it as JSON ({exc})") from None
    if isinstance(data, dict) and data.get("format") == APOLLO_MANIFEST_FORMAT:
        operations = data.get("operations")
        if data.get("version") != 1 or not isinstance(operations, list):
            raise ManifestError(
                f"{path}: an Apollo manifest of version 1 with a list of operations"
            )
        found = {}
        for operation in operations:
            if not (
                isinstance(operation, dict)
                and isinstance(operation.get("id"), str)
                and isinstance(operation.get("body"), str)
            ):
                raise ManifestError(f"{path}: every operation needs a string id and body")
            found[operation["id"]] = operation["body"]
        return found
    if isinstance(data, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        return dict(data)  # GraphQL Code Generator: {"<hash>": "<document>"}
    raise ManifestError(
        f"{path}: neither an Apollo persisted-query manifest nor a persisted-documents "
        'JSON object ({"<hash>": "<document>"})'
    )
