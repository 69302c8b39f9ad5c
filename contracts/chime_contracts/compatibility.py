"""Is a new JSON Schema of an event a compatible successor of a published one?

A published version may only grow: every property it had keeps its schema, nothing that was
optional becomes required, and no new field is required (old producers do not send it).
Anything else needs a new version name (`...v2`).
"""

from typing import Any


def incompatibilities(published: dict[str, Any], current: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    _compare(published, current, published, current, "", problems)
    return problems


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if not isinstance(ref, str):
        return schema
    node: Any = root
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return _resolve(node, root)


def _compare(
    old: dict[str, Any],
    new: dict[str, Any],
    old_root: dict[str, Any],
    new_root: dict[str, Any],
    where: str,
    problems: list[str],
) -> None:
    old, new = _resolve(old, old_root), _resolve(new, new_root)
    old_props, new_props = old.get("properties"), new.get("properties")
    if isinstance(old_props, dict):
        if not isinstance(new_props, dict):
            problems.append(f"{where or '/'}: is no longer an object")
            return
        for name, old_prop in old_props.items():
            if name not in new_props:
                problems.append(f"{where}/{name}: removed")
            else:
                _compare(old_prop, new_props[name], old_root, new_root, f"{where}/{name}", problems)
        newly_required = set(new.get("required", [])) - set(old.get("required", []))
        for name in sorted(newly_required):
            problems.append(f"{where}/{name}: now required")
        return
    old_leaf = {k: v for k, v in old.items() if k not in ("title", "description")}
    new_leaf = {k: v for k, v in new.items() if k not in ("title", "description")}
    if _strip_refs(old_leaf, old_root) != _strip_refs(new_leaf, new_root):
        problems.append(f"{where}: schema changed from {old_leaf} to {new_leaf}")


def _strip_refs(node: Any, root: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            return _strip_refs(_resolve(node, root), root)
        return {
            k: _strip_refs(v, root) for k, v in node.items() if k not in ("title", "description")
        }
    if isinstance(node, list):
        return [_strip_refs(v, root) for v in node]
    return node
