"""DRF's field rules, for the fields the ported serializer has (rest_framework 3.17 ``fields.py``).

Each ``*_field`` function is one field's ``run_validation``: it returns the internal value, returns
:data:`SKIP` for an optional field left out, or raises :class:`Invalid` with the field's messages. They
are DRF's code paths with DRF's messages, including its leniencies: ``CharField`` takes numbers,
``IntegerField`` takes ``"3.0"``, ``BooleanField`` takes ``"yes"`` and ``1``.
"""

from __future__ import annotations

import decimal
import re
from datetime import UTC
from typing import Any, Final

__all__ = [
    "EMPTY",
    "SKIP",
    "Invalid",
    "boolean_field",
    "char_field",
    "decimal_field",
    "integer_field",
    "max_length_errors",
    "lookup_text",
    "prohibited_characters",
    "represent_datetime",
    "represent_decimal",
    "SLUG_INVALID",
    "slug_errors",
]


class _Sentinel:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


EMPTY: Final = _Sentinel("EMPTY")  # the key is absent from the body (DRF's ``empty``)
SKIP: Final = _Sentinel("SKIP")  # DRF's SkipField: the model default applies


class Invalid(Exception):
    def __init__(self, *messages: str) -> None:
        self.messages = list(messages)
        super().__init__(*messages)


REQUIRED = "This field is required."
NULL = "This field may not be null."


def _empty_values(value: Any, required: bool) -> tuple[bool, Any]:
    """``Field.validate_empty_values`` for fields without defaults that do not allow null."""
    if value is EMPTY:
        if required:
            raise Invalid(REQUIRED)
        return True, SKIP
    if value is None:
        raise Invalid(NULL)
    return False, value


def prohibited_characters(value: str) -> list[str]:
    """``ProhibitNullCharactersValidator`` then ``ProhibitSurrogateCharactersValidator``."""
    errors = []
    if "\x00" in value:
        errors.append("Null characters are not allowed.")
    for ch in value:
        if 0xD800 <= ord(ch) <= 0xDFFF:
            errors.append(f"Surrogate characters are not allowed: U+{ord(ch):X}.")
            break
    return errors


def char_field(
    value: Any, *, required: bool = True, allow_blank: bool = False, invalid: str = "Not a valid string."
) -> Any:
    """``CharField.run_validation`` (trim_whitespace) up to its validators: the text, ``""`` or SKIP.

    The caller runs the field's validators on a non-empty text (a blank one skips them, as in DRF).
    ``invalid``: the field's message for a value that is no text (SlugField has its own)."""
    if value == "" or str(value).strip() == "":
        if not allow_blank:
            raise Invalid("This field may not be blank.")
        return ""
    is_empty, value = _empty_values(value, required)
    if is_empty:
        return value
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise Invalid(invalid)
    return str(value).strip()


def max_length_errors(text: str, max_length: int) -> list[str]:
    if len(text) > max_length:
        return [f"Ensure this field has no more than {max_length} characters."]
    return []


_SLUG_RE = re.compile(r"^[-a-zA-Z0-9_]+$")
SLUG_INVALID = 'Enter a valid "slug" consisting of letters, numbers, underscores or hyphens.'


def slug_errors(text: str) -> list[str]:
    """``SlugField``'s own validator (it runs last, after the model's and CharField's)."""
    return [] if _SLUG_RE.search(text) else [SLUG_INVALID]


_RE_DECIMAL = re.compile(r"\.0*\s*$")  # IntegerField: "1.0" is 1, "1.2" is not an integer


def integer_field(value: Any, *, required: bool, min_value: int, max_value: int):
    is_empty, value = _empty_values(value, required)
    if is_empty:
        return value
    if isinstance(value, str) and len(value) > 1000:
        raise Invalid("String value too large.")
    try:
        number = int(_RE_DECIMAL.sub("", str(value)))
    except (ValueError, TypeError):
        raise Invalid("A valid integer is required.") from None
    errors = []
    if number > max_value:
        errors.append(f"Ensure this value is less than or equal to {max_value}.")
    if number < min_value:
        errors.append(f"Ensure this value is greater than or equal to {min_value}.")
    if errors:
        raise Invalid(*errors)
    return number


_TRUE = {"t", "y", "yes", "true", "on", "1", 1}
_FALSE = {"f", "n", "no", "false", "off", "0", 0}


def boolean_field(value: Any, *, required: bool):
    is_empty, value = _empty_values(value, required)
    if is_empty:
        return value
    lowered = value.lower() if isinstance(value, str) else value
    try:
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    except TypeError:  # unhashable: a list or an object
        pass
    raise Invalid("Must be a valid boolean.")


def _smart_str(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _quantize(value: decimal.Decimal, max_digits: int, decimal_places: int) -> decimal.Decimal:
    context = decimal.getcontext().copy()
    context.prec = max_digits
    return value.quantize(decimal.Decimal(".1") ** decimal_places, rounding=None, context=context)


def decimal_field(value: Any, *, max_digits: int, decimal_places: int, min_value: decimal.Decimal | int):
    """``DecimalField`` (required, not null, not localized): a quantized Decimal."""
    _empty_values(value, True)
    text = _smart_str(value).strip()
    if len(text) > 1000:
        raise Invalid("String value too large.")
    try:
        number = decimal.Decimal(text)
    except decimal.DecimalException:
        raise Invalid("A valid number is required.") from None
    if number.is_nan() or number in (decimal.Decimal("Inf"), decimal.Decimal("-Inf")):
        raise Invalid("A valid number is required.")
    _sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)  # not NaN or infinity: refused above
    if exponent >= 0:
        total, whole, places = len(digits) + exponent, len(digits) + exponent, 0
    elif len(digits) > abs(exponent):
        total, whole, places = len(digits), len(digits) - abs(exponent), abs(exponent)
    else:
        total, whole, places = abs(exponent), 0, abs(exponent)
    if total > max_digits:
        raise Invalid(f"Ensure that there are no more than {max_digits} digits in total.")
    if places > decimal_places:
        raise Invalid(f"Ensure that there are no more than {decimal_places} decimal places.")
    max_whole = max_digits - decimal_places
    if whole > max_whole:
        raise Invalid(f"Ensure that there are no more than {max_whole} digits before the decimal point.")
    number = _quantize(number, max_digits, decimal_places)
    if number < min_value:
        raise Invalid(f"Ensure this value is greater than or equal to {min_value}.")
    return number


def lookup_text(value: Any) -> str:
    """What Django's ``CharField.get_prep_value`` makes of a lookup value (``filter(slug=value)``)."""
    return value if isinstance(value, str) else str(value)


def represent_decimal(value: decimal.Decimal, max_digits: int, decimal_places: int) -> str:
    """``DecimalField.to_representation`` with COERCE_DECIMAL_TO_STRING."""
    return f"{_quantize(value, max_digits, decimal_places):f}"


def represent_datetime(value: Any) -> str | None:
    """``DateTimeField.to_representation`` (ISO 8601, TIME_ZONE = "UTC": ``+00:00`` becomes ``Z``)."""
    if not value:
        return None
    text = value.astimezone(UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text
