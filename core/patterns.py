"""Text of a given form, refused with the rule in words: a 422 says "must be 1-64 letters, digits, '_' or
'-'", never the regular expression (pydantic's own `pattern=` message prints it, thousands of characters
for the language codes). Clients still find the pattern in the JSON schema and the OpenAPI document."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic_core import PydanticCustomError, core_schema

# Every pattern a request is checked against, with its rule in words (`core.errors` says the rule when
# Litestar refuses a path or query parameter by its pattern).
RULES: dict[str, str] = {}


def readable(pattern: str, rule: str) -> str:
    """`pattern`, registered with the rule a refused value is told."""
    if RULES.setdefault(pattern, rule) != rule:
        raise ValueError(f"the pattern {pattern!r} has a rule already: {RULES[pattern]!r}")
    return pattern


@dataclass(frozen=True)
class Matches:
    """`Annotated[str, Field(max_length=...), Matches(pattern, rule)]`: the string must match `pattern`
    (searched, as pydantic's `pattern=`: anchor it for a whole match), else the error is `rule`. Put length
    bounds before it, so that they are checked as string lengths."""

    pattern: str
    rule: str

    def __post_init__(self) -> None:
        readable(self.pattern, self.rule)

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> Any:
        compiled = re.compile(self.pattern)

        def check(value: str) -> str:
            if compiled.search(value) is None:
                raise PydanticCustomError("string_pattern_mismatch", self.rule)
            return value

        return core_schema.no_info_after_validator_function(check, handler(source))

    def __get_pydantic_json_schema__(self, schema: Any, handler: GetJsonSchemaHandler) -> dict[str, Any]:
        json_schema = handler(schema)
        json_schema["pattern"] = self.pattern
        return json_schema


_PARAMETER_PATTERN = re.compile(r"^Expected `str` matching regex '(?P<pattern>.*)'$", re.DOTALL)


def parameter_message(message: str) -> str:
    """Litestar's message for a parameter refused by its pattern, as the pattern's rule."""
    if (found := _PARAMETER_PATTERN.match(message)) is None:
        return message
    return RULES.get(found["pattern"], "does not have the form this parameter takes")
