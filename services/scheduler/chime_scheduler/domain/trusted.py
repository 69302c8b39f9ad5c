"""Models built from values that are valid already, every field given.

pydantic's `model_construct` skips validation but still walks every field of the model
for aliases and defaults on each call (about 15 µs for an envelope, twice that for a
`schedule.created.v1`): the bulk loader pays it for every schedule. `trusted` sets the
instance's fields as `model_construct` would when every field is given by name, and
refuses a call that does not give exactly the model's fields. The models it may build
are checked once each: no extra fields kept, no private attributes, no post-init.
"""

from __future__ import annotations

from functools import cache
from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)
_set = object.__setattr__


@cache
def _plain(cls: type[BaseModel]) -> frozenset[str]:
    """The model's field names, once it is known to need no more than its `__dict__`."""
    if (
        cls.model_config.get("extra") == "allow"
        or cls.__pydantic_post_init__
        or cls.__private_attributes__
        or cls.__pydantic_root_model__
    ):
        raise TypeError(f"{cls.__name__} needs pydantic's own model_construct")
    return frozenset(cls.__pydantic_fields__)


def trusted(cls: type[M], **values: Any) -> M:
    """`cls.model_construct(**values)` for values naming exactly the model's fields."""
    if values.keys() != _plain(cls):
        raise TypeError(f"{cls.__name__} takes {sorted(_plain(cls))}, not {sorted(values)}")
    model = cls.__new__(cls)
    _set(model, "__dict__", values)
    _set(model, "__pydantic_fields_set__", set(values))
    _set(model, "__pydantic_extra__", None)
    _set(model, "__pydantic_private__", None)
    return model
