"""What a model's answer must be before Petrel uses it: JSON, found in the text however the model
wrapped it, that follows the subset of JSON Schema Petrel's prompts use.

Apart from shared/model/llm.py, which calls the server, because these are pure functions of text.
"""

from __future__ import annotations

import json
import re
from typing import Any


class SchemaError(ValueError):
    """An answer does not follow the schema; the message says where."""


def check(value: Any, schema: dict, where: str = "$") -> Any:
    """Validate `value` against the subset of JSON Schema Petrel uses; raise SchemaError."""
    kinds = schema.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds] if kinds else []
    python = {
        "object": dict,
        "array": list,
        "string": str,
        "integer": int,
        "number": (int, float),
        "boolean": bool,
        "null": type(None),
    }
    if kinds and not any(
        isinstance(value, python[k]) and not (k in ("integer", "number") and isinstance(value, bool)) for k in kinds
    ):
        raise SchemaError(f"{where}: expected {' or '.join(kinds)}, got {type(value).__name__}")
    if "enum" in schema and value not in schema["enum"]:
        raise SchemaError(f"{where}: {value!r} is not one of {', '.join(map(str, schema['enum']))}")
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                raise SchemaError(f"{where}: missing {key!r}")
        properties = schema.get("properties", {})
        for key, item in value.items():
            if key in properties:
                check(item, properties[key], f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for n, item in enumerate(value):
            check(item, schema["items"], f"{where}[{n}]")
    if (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and "minimum" in schema
        and value < schema["minimum"]
    ):
        raise SchemaError(f"{where}: {value} is below {schema['minimum']}")
    return value


def extract_json(text: str) -> Any:
    """The JSON value in a model's text: bare, or inside a ``` fence, or between the outer braces."""
    text = (text or "").strip()
    fenced = re.search(r"```(?:json)?\s*(.*?)```", text, re.DOTALL)
    candidates = [text, fenced.group(1) if fenced else None]
    if "{" in text:
        candidates.append(text[text.index("{") : text.rindex("}") + 1] if "}" in text else None)
    for candidate in candidates:
        if candidate:
            try:
                return json.loads(candidate)
            except ValueError:
                continue
    raise SchemaError("the answer is not JSON")
