"""A published event version may only change compatibly; the snapshots on disk are the record."""

import json
from pathlib import Path

import pytest

from chime_contracts.compatibility import incompatibilities
from chime_contracts.export import DEFAULT_OUT, asyncapi_document, event_schema
from chime_contracts.registry import ALL_EVENTS

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("cls", ALL_EVENTS, ids=lambda c: c.type_name())
def test_every_event_has_a_published_schema_it_is_compatible_with(cls):
    path = DEFAULT_OUT / f"{cls.type_name()}.json"
    assert path.exists(), f"run `python -m chime_contracts.export` to publish {path.name}"
    published = json.loads(path.read_text())
    assert incompatibilities(published, event_schema(cls)) == []


def test_no_published_schema_disappeared():
    published = {p.name for p in DEFAULT_OUT.glob("*.v*.json")}
    current = {f"{cls.type_name()}.json" for cls in ALL_EVENTS}
    assert published - current == set()


def test_asyncapi_on_disk_is_current():
    on_disk = json.loads((DEFAULT_OUT / "asyncapi.json").read_text())
    assert on_disk == json.loads(json.dumps(asyncapi_document(), sort_keys=True))


def _schema(props, required):
    return {"type": "object", "properties": props, "required": required}


INT = {"type": "integer"}
STR = {"type": "string"}


def test_adding_an_optional_field_is_compatible():
    old = _schema({"a": INT}, ["a"])
    new = _schema({"a": INT, "b": STR}, ["a"])
    assert incompatibilities(old, new) == []


@pytest.mark.parametrize(
    ("new", "problem"),
    [
        (_schema({}, []), "/a: removed"),
        (_schema({"a": STR}, ["a"]), "/a: schema changed"),
        (_schema({"a": INT, "b": STR}, ["a", "b"]), "/b: now required"),
    ],
)
def test_breaking_changes_are_reported(new, problem):
    old = _schema({"a": INT}, ["a"])
    found = incompatibilities(old, new)
    assert len(found) == 1
    assert found[0].startswith(problem)


def test_nested_definitions_are_compared_through_refs():
    old = {"$defs": {"D": _schema({"x": INT}, ["x"])}, **_schema({"d": {"$ref": "#/$defs/D"}}, [])}
    new = {"$defs": {"D": _schema({"x": STR}, ["x"])}, **_schema({"d": {"$ref": "#/$defs/D"}}, [])}
    assert incompatibilities(old, new)[0].startswith("/d/x: schema changed")


def test_the_snapshot_folder_is_the_package_neighbour():
    assert Path(__file__).resolve().parents[1] / "schemas" == DEFAULT_OUT
