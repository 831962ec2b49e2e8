"""redis_request's timeout schema says ``exclusiveMinimum: 0``, a keyword the agent tools'
validator did not know: a timeout of 0 passed the schema check (the schema and the validator
disagreed; jsonschema refuses it). The validator now checks it, with a sentence a model can
act on."""

from __future__ import annotations

from roleredis.faces.agents import schemas, validation


def test_a_timeout_of_zero_is_refused_by_the_schema_check() -> None:
    schema = schemas.input_schema("redis_request")
    assert schema["properties"]["timeout"]["exclusiveMinimum"] == 0
    arguments = {"to_role": "worker", "body": 1, "timeout": 0}
    assert validation.validate(schema, arguments) == "timeout must be more than 0, got 0"
    assert validation.validate(schema, {**arguments, "timeout": 0.001}) is None
