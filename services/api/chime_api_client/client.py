"""The client's transport: one httpx client, the key, problem+json turned into ChimeError."""

from __future__ import annotations

from types import TracebackType
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter

from chime_api_client.operations import Operations

T = TypeVar("T")


class ChimeError(Exception):
    """A problem+json answer: `status`, the stable `type`, and the whole body."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        super().__init__(f"{status} {problem.get('type')}: {problem.get('detail')}")
        self.status = status
        self.type = str(problem.get("type", "about:blank"))
        self.problem = problem


class ChimeClient(Operations):
    def __init__(
        self, base_url: str, key: str, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url, headers={"Authorization": f"Bearer {key}"}, transport=transport
        )

    async def __aenter__(self) -> ChimeClient:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._http.aclose()

    async def _call(
        self,
        method: str,
        path: str,
        returns: Any,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        idempotency_key: str | None = None,
    ) -> Any:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        content = None
        if isinstance(body, BaseModel):
            content = body.model_dump_json(exclude_unset=True)
        if content is not None:
            headers["Content-Type"] = "application/json"
        query = {k: v for k, v in (params or {}).items() if v is not None}
        response = await self._http.request(
            method, path, params=query, content=content, headers=headers
        )
        if response.status_code >= 400:
            raise ChimeError(response.status_code, response.json())
        if returns is None or response.status_code == 204:
            return None
        return TypeAdapter(returns).validate_python(response.json())
