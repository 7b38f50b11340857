"""The one pydantic base every model shares: frozen, and unknown keys rejected."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict

Level = Literal[1, 2, 3, 4]
LEVEL_NAMES: dict[int, str] = {1: "Universal", 2: "Additional", 3: "Intensive", 4: "Specialist"}


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


M = TypeVar("M", bound=Model)


def trusted(model: type[M], values: dict[str, Any]) -> M:
    """An instance from values that are already valid, every field given (the dict is kept).

    What `model_construct` does for a model without aliases, defaults to fill, private
    attributes or post-init, minus its loop over the fields: it cost as much as validating.
    Used for the decision of every child, whose values come from validated models; a test
    checks the result equals the validated model."""
    instance = model.__new__(model)
    object.__setattr__(instance, "__dict__", values)
    object.__setattr__(instance, "__pydantic_fields_set__", set(values))
    object.__setattr__(instance, "__pydantic_extra__", None)
    object.__setattr__(instance, "__pydantic_private__", None)
    return instance


# pydantic's lax mode reads a number as a Unix timestamp: 20190501 would become 1970-08-23, and
# so would the string "20190501" ("1772443800" a time in 2026). Only text that starts as an ISO
# 8601 date (YYYY-MM-DD) goes on to pydantic's parser.
_ISO_DATE_START = re.compile(r"\s*\d{4}-\d{2}-\d{2}")


def _iso_text_or_date(value: Any) -> Any:
    if isinstance(value, date) or (isinstance(value, str) and _ISO_DATE_START.match(value)):
        return value
    raise ValueError("expected an ISO 8601 date string such as 2019-05-01")


def _iso_text_or_datetime(value: Any) -> Any:
    if isinstance(value, datetime) or (isinstance(value, str) and _ISO_DATE_START.match(value)):
        return value
    raise ValueError(
        "expected an ISO 8601 date-time with a UTC offset such as 2026-03-02T09:30:00+00:00"
    )


def _whole_number(value: Any) -> Any:
    # Lax validation reads true as 1 and 4.0 as 4: a level must be written as the number.
    if type(value) is int:
        return value
    raise ValueError("expected a level written as a whole number: 1, 2, 3 or 4")


StrictLevel = Annotated[Level, BeforeValidator(_whole_number)]
IsoDate = Annotated[date, BeforeValidator(_iso_text_or_date)]
IsoDateTime = Annotated[AwareDatetime, BeforeValidator(_iso_text_or_datetime)]
