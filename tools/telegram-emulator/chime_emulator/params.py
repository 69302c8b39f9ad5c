"""Reading Bot API parameters, which arrive as JSON values or as strings (query, form)."""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from starlette.datastructures import UploadFile

from chime_emulator.errors import bad_request

Params = Mapping[str, Any]


@dataclass(frozen=True)
class Upload:
    """A file sent in a multipart request; only what Telegram would report is kept."""

    filename: str
    content_type: str | None
    size: int


async def read_params(request: Request) -> dict[str, Any]:
    """Merges the query string with a JSON, urlencoded or multipart body, the body winning."""
    params: dict[str, Any] = dict(request.query_params)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        raw = await request.body()
        if raw.strip():
            try:
                body = json.loads(raw)
            except ValueError as error:
                raise bad_request("can't parse JSON object") from error
            if not isinstance(body, dict):
                raise bad_request("JSON object expected")
            params.update(body)
    elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        async with request.form() as form:  # closing the form closes uploaded files
            for key, value in form.multi_items():
                if isinstance(value, UploadFile):
                    size = value.size if value.size is not None else 0
                    params[key] = Upload(value.filename or key, value.content_type, size)
                else:
                    params[key] = value
    return params


def get_str(params: Params, name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise bad_request(f'field "{name}" must be of type String')


def get_int(params: Params, name: str, default: int | None = None) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError as error:
        raise bad_request(f'field "{name}" must be of type Integer') from error


def get_required_int(params: Params, name: str, missing: str) -> int:
    value = get_int(params, name)
    if value is None:
        raise bad_request(missing)
    return value


def get_bool(params: Params, name: str, default: bool = False) -> bool:
    value = params.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "1", "yes")


def get_json(params: Params, name: str) -> Any:
    """A structured field, which form and query callers send JSON-serialized."""
    value = params.get(name)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError as error:
            raise bad_request(f"can't parse {name} JSON object") from error
    return value


def get_chat_id(params: Params) -> int | str:
    value = params.get("chat_id")
    if value is None or value == "":
        raise bad_request("chat_id is empty")
    if isinstance(value, bool):
        raise bad_request("chat not found")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if text.startswith("@"):
        return text
    try:
        return int(text)
    except ValueError as error:
        raise bad_request("chat not found") from error


def get_str_list(params: Params, name: str) -> list[str] | None:
    value = get_json(params, name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise bad_request(f"can't parse {name} JSON array")
    return list(value)
