"""Render docs/configuration.md from the config models, so the reference cannot drift from the code.

`python -m braze_assets.config.reference > docs/configuration.md` regenerates it; a test fails when
the committed page differs from what the models say.
"""

from __future__ import annotations

import sys
import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from braze_assets.config.model import ProjectConfig

HEADER = """# Configuration reference

Generated from the config models by `python -m braze_assets.config.reference`; do not edit by hand.
The config is a directory of YAML files (`BRAZE_ASSETS_CONFIG_DIR`, default the packaged demo in
`braze_assets/config/demo/`); each top-level key of a file is one of the sections below. Unknown keys
are errors, so a typo never passes silently.
"""


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        found.extend(_models_in(arg))
    return found


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type):
        return "mapping" if issubclass(annotation, BaseModel) else annotation.__name__
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return " \\| ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(_type_name(a) for a in args)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin is not None:
        name = getattr(origin, "__name__", str(origin))
        return f"{name}[{', '.join(_type_name(a) for a in args)}]"
    return str(annotation).replace("typing.", "")


def _default(field) -> str:
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        try:
            value = field.default_factory()
        except TypeError:
            return "computed"
        return (
            "empty"
            if value in ([], {}, ())
            else ("see below" if isinstance(value, BaseModel) else f"`{value!r}`")
        )
    if field.default is PydanticUndefined:
        return "required"
    if isinstance(field.default, BaseModel):
        return "see below"
    return f"`{field.default!r}`"


def _describe(model: type[BaseModel], path: str, out: list[str], seen: set[str]) -> None:
    if path in seen:
        return
    seen.add(path)
    out.append(f"\n## `{path}`\n")
    doc = (model.__doc__ or "").strip()
    if doc and model.__module__.startswith("braze_assets"):
        out.append(doc.splitlines()[0] + "\n")
    out.append("| key | type | default | meaning |\n| --- | --- | --- | --- |")
    nested: list[tuple[type[BaseModel], str]] = []
    for name, field in model.model_fields.items():
        key = field.alias or name
        meaning = (field.description or "").replace("\n", " ").replace("|", "\\|")
        out.append(f"| `{key}` | {_type_name(field.annotation)} | {_default(field)} | {meaning} |")
        origin = typing.get_origin(field.annotation)
        suffix = "[]" if origin is list else ("{}" if origin is dict else "")
        nested.extend((sub, f"{path}.{key}{suffix}") for sub in _models_in(field.annotation))
    for sub, sub_path in nested:
        _describe(sub, sub_path, out, seen)


def render_reference() -> str:
    out = [HEADER]
    seen: set[str] = set()
    for name, field in ProjectConfig.model_fields.items():
        for model in _models_in(field.annotation):
            _describe(
                model,
                name + ("[]" if typing.get_origin(field.annotation) is list else ""),
                out,
                seen,
            )
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render_reference())
