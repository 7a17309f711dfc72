"""Persisted queries: Apollo's automatic persisted queries (APQ) and trusted documents.

Automatic (``SALESFLOW_PERSISTED_QUERIES=automatic``, the default), as Apollo's
``PersistedQueryLink`` expects it: a request may carry, instead of its
document, ``extensions.persistedQuery = {"version": 1, "sha256Hash": <hex>}``
(a POST body, or ``GET ?extensions=...``: short URLs a CDN can cache).

- A known hash runs the document it stands for.
- An unknown one is answered ``PERSISTED_QUERY_NOT_FOUND`` (HTTP 200, message
  ``PersistedQueryNotFound``, not cached); the link then sends the document
  with its hash, which is checked (SHA-256 of the document text), run, and
  remembered once it has parsed and validated: in Redis when configured
  (shared by replicas, for ``SALESFLOW_PERSISTED_QUERIES_TTL_S``), and in a
  bounded in-process LRU.

Trusted documents (``trusted``): only the documents listed in the manifests
of ``SALESFLOW_TRUSTED_DOCUMENTS`` run, named by their id (``sha256Hash`` as
above, or ``documentId``, optionally ``sha256:``-prefixed) or sent in full,
character for character. Anything else: HTTP 403, ``FORBIDDEN``, reason
``PERSISTED_QUERY_NOT_IN_LIST``; an unknown id: ``PERSISTED_QUERY_NOT_FOUND``.
Two manifest formats are read: Apollo's persisted-query manifest
(``{"format": "apollo-persisted-query-manifest", "version": 1, "operations":
[{"id", "name", "type", "body"}]}``) and GraphQL Code Generator's
``persisted-documents.json`` (``{"<hash>": "<document>"}``).
``salesflow-graphql persisted-manifest`` writes one from ``examples/operations/``.

Off (``off``): a hash without a document is answered ``PERSISTED_QUERY_NOT_SUPPORTED``.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    NameNode,
    OperationDefinitionNode,
    SelectionSetNode,
    Visitor,
    parse,
    print_ast,
    visit,
)

from ..adapters.cache import MISS, Cache, Codec, Typed
from ..config import Settings
from ..edge.envelope import Refusal
from ..errors import ErrorCode
from ..manifests import APOLLO_MANIFEST_FORMAT, load_manifest

#: The in-process store of automatic persisted queries holds at most this many characters.
MEMORY_MAX_CHARS = 8 * 1024 * 1024
#: A persisted document in Redis: its text, checked to be one on the way back.
DOCUMENT: Codec[str] = Typed(str)
#: A persisted-query error must not be cached: the retry with the document fills the store.
NO_CACHE = {"cache-control": "private, no-cache, must-revalidate"}


def sha256_hex(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


def _plain_id(document_id: str) -> str:
    return document_id.split(":", 1)[1] if document_id.startswith("sha256:") else document_id


@dataclass(frozen=True)
class TrustedDocuments:
    """The allowlist: documents by id, and the documents themselves."""

    by_id: Mapping[str, str]
    bodies: frozenset[str]

    @classmethod
    def load(cls, paths: Iterable[str]) -> TrustedDocuments:
        by_id: dict[str, str] = {}
        for path in paths:
            by_id.update({_plain_id(k): v for k, v in load_manifest(path).items()})
        return cls(by_id, frozenset(by_id.values()))

    def operation_names(self) -> set[str]:
        """The names of the listed operations (known metric labels)."""
        names = set()
        for body in self.bodies:
            try:
                document = parse(body)
            except GraphQLError:
                continue
            names.update(
                d.name.value
                for d in document.definitions
                if isinstance(d, OperationDefinitionNode) and d.name
            )
        return names


class PersistedQueries:
    """What a request's document is, given its ``query``, ``extensions`` and ``documentId``."""

    def __init__(self, settings: Settings, cache: Cache | None) -> None:
        self.mode = settings.graphql.persisted_queries.lower()
        self.ttl_s = settings.graphql.persisted_queries_ttl_s
        self.trusted = (
            TrustedDocuments.load(settings.graphql.trusted_document_paths)
            if self.mode == "trusted"
            else None
        )
        self._shared = cache if settings.redis_url else None
        self._memory: OrderedDict[str, str] = OrderedDict()
        self._memory_chars = 0

    async def document(
        self, query: str | None, extensions: Mapping[str, Any] | None, document_id: str | None
    ) -> str | None:
        """The document to run; :class:`Refusal` for what the mode does not allow."""
        given = _requested_hash(extensions, document_id)
        if self.trusted is not None:
            return self._trusted(query, given)
        if given is None:
            return query
        if self.mode == "off":
            if query is None:
                raise Refusal(
                    200,
                    ErrorCode.PERSISTED_QUERY_NOT_SUPPORTED,
                    "PersistedQueryNotSupported",
                    headers=NO_CACHE,
                )
            return query
        if query is None:
            found = await self._lookup(given)
            if found is None:
                raise _not_found()
            return found
        if sha256_hex(query) != given:
            raise Refusal(
                400,
                ErrorCode.BAD_USER_INPUT,
                "The persisted query hash (extensions.persistedQuery.sha256Hash) is not the "
                "SHA-256 of the query sent with it.",
                reason="PERSISTED_QUERY_HASH_MISMATCH",
            )
        return query

    def _trusted(self, query: str | None, given: str | None) -> str | None:
        assert self.trusted is not None
        if given is not None:
            found = self.trusted.by_id.get(given)
            if found is not None:
                return found
            if query is None:
                raise _not_found()
        if query is None or query in self.trusted.bodies:
            return query
        raise Refusal(
            403,
            ErrorCode.FORBIDDEN,
            "This gateway runs only its trusted documents (the persisted-query manifest); "
            "this document is not one of them.",
            reason="PERSISTED_QUERY_NOT_IN_LIST",
        )

    def known_operation_names(self) -> set[str]:
        """The names of the example operations and of the trusted documents."""
        from ..web.examples import EXAMPLES_DIR

        names = set()
        if EXAMPLES_DIR.is_dir():
            names = {o["name"] for o in manifest_from_operations(EXAMPLES_DIR)["operations"]}
        if self.trusted is not None:
            names |= self.trusted.operation_names()
        return names

    async def ran(self, extensions: Mapping[str, Any] | None, document: str) -> None:
        """A document that parsed and validated ran: keep it under its APQ hash, if it has one.

        (Its hash was checked against it before it ran.)
        """
        if self.mode == "automatic" and (query_hash := _requested_hash(extensions, None)):
            await self.remember(query_hash, document)

    async def remember(self, query_hash: str, document: str) -> None:
        """Keep ``document`` under ``query_hash`` (APQ registration)."""
        if query_hash in self._memory:
            self._memory.move_to_end(query_hash)
            return
        self._keep(query_hash, document)
        if self._shared is not None:
            await self._shared.set(f"apq:{query_hash}", document, self.ttl_s, codec=DOCUMENT)

    async def _lookup(self, query_hash: str) -> str | None:
        found = self._memory.get(query_hash)
        if found is not None:
            self._memory.move_to_end(query_hash)
            return found
        if self._shared is not None:
            shared = await self._shared.get(
                f"apq:{query_hash}", layer="persisted_query", codec=DOCUMENT
            )
            if shared is not MISS and isinstance(shared, str):
                self._keep(query_hash, shared)
                return shared
        return None

    def _keep(self, query_hash: str, document: str) -> None:
        self._memory[query_hash] = document
        self._memory_chars += len(document)
        while self._memory_chars > MEMORY_MAX_CHARS and self._memory:
            _, dropped = self._memory.popitem(last=False)
            self._memory_chars -= len(dropped)


def _not_found() -> Refusal:
    return Refusal(
        200, ErrorCode.PERSISTED_QUERY_NOT_FOUND, "PersistedQueryNotFound", headers=NO_CACHE
    )


def _requested_hash(extensions: Mapping[str, Any] | None, document_id: str | None) -> str | None:
    """The persisted query's id a request names, if any; :class:`Refusal` when malformed."""
    persisted = (extensions or {}).get("persistedQuery")
    if persisted is not None:
        if (
            not isinstance(persisted, dict)
            or persisted.get("version") != 1
            or not isinstance(persisted.get("sha256Hash"), str)
        ):
            raise Refusal(
                400,
                ErrorCode.BAD_USER_INPUT,
                'extensions.persistedQuery must be {"version": 1, "sha256Hash": "<hex>"}.',
                reason="INVALID_REQUEST",
            )
        return str(persisted["sha256Hash"]).lower()
    if document_id is not None:
        return _plain_id(document_id)
    return None


# ------------------------------------------------------------------ the manifest
def manifest_from_operations(directory: Path, *, codegen: bool = False) -> dict[str, Any]:
    """A trusted-documents manifest of every ``*.graphql`` file in ``directory``.

    Each file's document is given ``__typename`` in every selection set below
    the operation's own, as Apollo Client (and urql's Graphcache) add it to what
    they send, and as Apollo's manifest generator writes it: the gateway runs the
    manifest's document for an id, and a normalized cache needs ``__typename`` in
    the answer to match fragments. It is then printed in graphql-core's normal
    form (comments and spacing dropped) and identified by the SHA-256 of that text.
    """
    operations = []
    for path in sorted(directory.glob("*.graphql")):
        document = with_typename(parse(path.read_text(encoding="utf-8")))
        body = print_ast(document)
        for definition in document.definitions:
            if isinstance(definition, OperationDefinitionNode):
                operations.append(
                    {
                        "id": sha256_hex(body),
                        "name": definition.name.value if definition.name else path.stem,
                        "type": definition.operation.value,
                        "body": body,
                    }
                )
                break
    if codegen:
        return {operation["id"]: operation["body"] for operation in operations}
    return {"format": APOLLO_MANIFEST_FORMAT, "version": 1, "operations": operations}


def with_typename(document: DocumentNode) -> DocumentNode:
    """``document`` with ``__typename`` selected in every selection set but an operation's
    own, where it (or another ``__`` field) is not selected yet: Apollo Client's
    ``addTypenameToDocument``."""
    return visit(document, _AddTypename())  # type: ignore[no-any-return]


class _AddTypename(Visitor):
    def enter_selection_set(
        self, node: SelectionSetNode, _key: Any, parent: Any, *_: Any
    ) -> SelectionSetNode | None:
        if isinstance(parent, OperationDefinitionNode) or any(
            isinstance(s, FieldNode) and s.name.value.startswith("__") for s in node.selections
        ):
            return None
        typename = FieldNode(name=NameNode(value="__typename"), directives=(), arguments=())
        return SelectionSetNode(selections=(*node.selections, typename))
