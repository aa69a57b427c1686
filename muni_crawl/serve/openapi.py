"""The OpenAPI 3.1 description of the HTTP API, served at /openapi.json.

The response schemas are derived from the dataclasses the library returns (Answer, Citation,
Usage, Passage, Retrieval), so the description cannot drift from what `to_dict()` produces.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

from muni_crawl.retrieve import Retrieval
from muni_crawl.types import Answer, Citation, Passage, Usage

_SCALARS: dict[Any, dict[str, Any]] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
}
# fields a to_dict() adds beyond the dataclass fields
_EXTRA: dict[type, dict[str, Any]] = {
    Retrieval: {"evidence": {"type": "number", "description": "best passage's cosine"}},
}
# what a field means where its name does not say it all
_DESCRIPTIONS: dict[type, dict[str, str]] = {
    Retrieval: {
        "index_version": "The version of the tenant's own index that was searched.",
        "shared_versions": (
            "Source -> the version of its shared index of national text (borger.dk) that was"
            " searched beside the tenant's own."
        ),
    },
    Answer: {
        "language": "ISO 639-1 code of the language the answer text is written in.",
        "question_language": (
            "ISO 639-1 code of the question's language (detected, or as requested). When it"
            " differs from `language`, the text is the municipality's own (Danish) text,"
            " introduced by one sentence in the question's language saying so."
        ),
    },
}


def _schema_of(hint: Any) -> dict[str, Any]:
    """The JSON schema of one type hint (scalars, X | None, tuples/lists, dicts with string
    keys, Literal, dataclasses)."""
    origin = typing.get_origin(hint)
    if hint in _SCALARS:
        return dict(_SCALARS[hint])
    if dataclasses.is_dataclass(hint):
        return {"$ref": f"#/components/schemas/{hint.__name__}"}  # type: ignore[union-attr]
    if origin is typing.Literal:
        return {"type": "string", "enum": list(typing.get_args(hint))}
    if origin in (typing.Union, types.UnionType):
        return {"anyOf": [_schema_of(arg) for arg in typing.get_args(hint)]}
    if origin in (tuple, list):
        return {"type": "array", "items": _schema_of(typing.get_args(hint)[0])}
    if origin is dict:
        return {"type": "object", "additionalProperties": _schema_of(typing.get_args(hint)[1])}
    if hint is type(None):
        return {"type": "null"}
    raise TypeError(f"no JSON schema for {hint!r}")


def dataclass_schema(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    properties = {
        f.name: _schema_of(hints[f.name])
        for f in dataclasses.fields(cls)
        if not f.metadata.get("internal")  # kept in the process, never sent
    }
    for name, description in _DESCRIPTIONS.get(cls, {}).items():
        properties[name]["description"] = description
    properties.update(_EXTRA.get(cls, {}))
    return {
        "type": "object",
        "description": (cls.__doc__ or "").strip().splitlines()[0],
        "properties": properties,
        "required": list(properties),
    }


def _error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _json_response(description: str, schema: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


_TENANT = {
    "name": "tenant",
    "in": "path",
    "required": True,
    "description": "The municipality's slug, as in spiders/tenants.toml.",
    "schema": {"type": "string"},
}
_ERRORS = {
    "401": _error_response("AuthenticationError: no API key, or an unknown one."),
    "403": _error_response("PermissionDeniedError: the key may not call this tenant."),
    "404": _error_response("UnknownTenantError: no such tenant."),
    "422": _error_response("InvalidQuestionError or InvalidRequestError: a bad question."),
}


def openapi_schema(version: str, max_body_bytes: int, max_question_chars: int) -> dict[str, Any]:
    """The whole OpenAPI document."""
    schemas: dict[str, Any] = {
        cls.__name__: dataclass_schema(cls) for cls in (Answer, Citation, Usage, Passage, Retrieval)
    }
    schemas["AnswerRequest"] = {
        "type": "object",
        "properties": {
            "question": {"type": "string", "maxLength": max_question_chars},
            "language": {
                "type": "string",
                "description": (
                    "ISO 639-1 code of the question's language, e.g. the chatbot's UI language"
                    " (default: detected); an LLM answers in it."
                ),
            },
        },
        "required": ["question"],
        "additionalProperties": False,
    }
    schemas["Error"] = {
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "properties": {
                    "type": {"type": "string", "description": "the library's error class"},
                    "message": {"type": "string"},
                },
                "required": ["type", "message"],
            }
        },
        "required": ["error"],
    }
    answers = {
        "post": {
            "summary": "Answer a citizen's question from the tenant's sources.",
            "operationId": "answer",
            "parameters": [_TENANT],
            "requestBody": {
                "required": True,
                "description": f"JSON, at most {max_body_bytes} bytes.",
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/AnswerRequest"}}
                },
            },
            "responses": {
                "200": _json_response("The answer, as Answer.to_dict().", "Answer"),
                "400": _error_response("InvalidRequestError: the body is not JSON."),
                **_ERRORS,
                "413": _error_response("RequestTooLargeError: the body is too large."),
            },
        }
    }
    search = {
        "get": {
            "summary": "The passages of the tenant's sources that best match a question.",
            "operationId": "search",
            "parameters": [
                _TENANT,
                {"name": "q", "in": "query", "required": True, "schema": {"type": "string"}},
                {
                    "name": "k",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 50, "default": 5},
                },
            ],
            "responses": {
                "200": _json_response("The passages, as Retrieval.to_dict().", "Retrieval"),
                **_ERRORS,
                "503": _error_response("IndexNotBuiltError: the tenant has no index yet."),
            },
        }
    }
    plain = {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "muni_crawl",
            "version": version,
            "description": "Grounded answers from Danish municipal sites; see docs/serving.md.",
        },
        "paths": {
            "/v1/tenants/{tenant}/answers": answers,
            "/v1/tenants/{tenant}/search": search,
            "/healthz": {
                "get": {
                    "summary": "The process is up.",
                    "security": [],
                    "responses": {"200": plain},
                }
            },
            "/readyz": {
                "get": {
                    "summary": "Every index is loaded and the embedder warmed.",
                    "security": [],
                    "responses": {"200": plain, "503": _error_response("NotReadyError")},
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus text format.",
                    "security": [],
                    "responses": {
                        "200": {"description": "OK", "content": {"text/plain": {}}},
                    },
                }
            },
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }
