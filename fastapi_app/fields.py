"""DRF's ``CharField``/``EmailField`` input handling: required/null/blank checks, string coercion,
whitespace trimming and every validator's message collected in DRF's order."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import validators as v

__all__ = ["EMPTY", "CharField", "FieldErrors", "SkipField"]


class _Empty:
    def __repr__(self) -> str:
        return "<empty>"


EMPTY: Any = _Empty()  # a key absent from the input (DRF's ``empty``)

Validator = Callable[[str], "str | None"]
AsyncValidator = Callable[[str], Awaitable["str | None"]]


class FieldErrors(Exception):
    def __init__(self, messages: list[str]) -> None:
        self.messages = messages


class SkipField(Exception):
    """The field is absent and optional (or the update is partial): leave it out of the validated data."""


@dataclass(frozen=True)
class CharField:
    max_length: int | None = None
    required: bool = True
    allow_blank: bool = False
    trim_whitespace: bool = True
    invalid_message: str = "Not a valid string."
    # Validators given to the field run before DRF's own (max length, NUL, surrogates); ``extra`` after them.
    leading: Sequence[Validator | AsyncValidator] = ()
    extra: Sequence[Validator] = field(default_factory=tuple)

    def validators(self) -> list[Validator | AsyncValidator]:
        own: list[Validator | AsyncValidator] = []
        if self.max_length is not None:
            own.append(v.max_length(self.max_length))
        own += [v.prohibit_null_characters, v.prohibit_surrogate_characters]
        return [*self.leading, *own, *self.extra]

    async def run(self, data: Any, *, partial: bool = False) -> str:
        """``Field.run_validation``: the validated string, or FieldErrors / SkipField."""
        if data is EMPTY:
            if partial:
                raise SkipField()
            if self.required:
                raise FieldErrors(["This field is required."])
            raise SkipField()
        if data is None:
            raise FieldErrors(["This field may not be null."])
        if data == "" or (self.trim_whitespace and str(data).strip() == ""):
            if not self.allow_blank:
                raise FieldErrors(["This field may not be blank."])
            return ""
        if isinstance(data, bool) or not isinstance(data, str | int | float):
            raise FieldErrors([self.invalid_message])
        value = str(data)
        if self.trim_whitespace:
            value = value.strip()
        errors: list[str] = []
        for validator in self.validators():
            message = validator(value)
            if isinstance(message, Awaitable):
                message = await message
            if message is not None:
                errors.append(message)
        if errors:
            raise FieldErrors(errors)
        return value
