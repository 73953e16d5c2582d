"""Generate ``docs/configuration.md`` from ``gatepass.settings`` (DESIGN §6: field descriptions
generate the reference page).

    .venv/bin/python scripts/gen_config_docs.py            # print the page
    .venv/bin/python scripts/gen_config_docs.py --write    # write docs/configuration.md
    .venv/bin/python scripts/gen_config_docs.py --check    # exit 1 if the file is out of date

Every field of ``Settings`` and of the models nested in it is listed with its TOML key, its
environment variable, its type (with bounds), its default and its ``Field(description=...)``.
A field without a description is an error: the page is only as good as the model.
"""

from __future__ import annotations

import argparse
import json
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel, TypeAdapter
from pydantic.fields import FieldInfo

from gatepass.scopes import DEFAULT_SCOPES
from gatepass.settings import ScopeSetting, Settings

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "docs" / "configuration.md"
HEADER = ("setting", "env", "type", "default", "description")
CATALOG = "Built-in scope catalog"

EXAMPLE_TOML = """\
issuer = "https://auth.example.com"
database_url = "postgresql+psycopg://gatepass@db/gatepass"
redis_url = "redis://cache:6379/0"
resources = ["https://api.example.com"]
access_token_ttl = 900

[agents]
free_tier = "agent_free"
registrations_per_ip_per_hour = 10

[[agents.attestation_issuers]]
issuer = "https://framework.example.com"
jwks_uri = "https://framework.example.com/jwks.json"
trust_level = 1

[[scopes]]
name = "read:projects"
description = "List and read project data"

[[scopes]]
name = "execute:deployments"
description = "Trigger deployments"
min_trust = 1
"""


def type_name(tp: Any) -> str:
    """A readable name of an annotation: ``str | None``, ``list[str]``, ``"ES256" | "RS256"``."""
    origin = get_origin(tp)
    if tp is type(None):
        return "None"
    if origin is Literal:
        return " | ".join(json.dumps(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " | ".join(type_name(a) for a in get_args(tp))
    if origin is not None:
        return f"{origin.__name__}[{', '.join(type_name(a) for a in get_args(tp))}]"
    if tp is Any:
        return "Any"
    return str(getattr(tp, "__name__", tp))


def bounds(field: FieldInfo) -> str:
    """The numeric constraints of a field (``ge=60, le=86400`` -> ``≥ 60, ≤ 86400``)."""
    signs = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<"}
    parts = []
    for item in field.metadata:
        if isinstance(item, annotated_types.BaseMetadata):
            for name, sign in signs.items():
                value = getattr(item, name, None)
                if value is not None:
                    parts.append(f"{sign} {value}")
    return ", ".join(parts)


def model_of(tp: Any) -> type[BaseModel] | None:
    """The model of a nested-model field, or None."""
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def item_model(tp: Any) -> type[BaseModel] | None:
    """The item model of a ``list[Model]`` field, or None."""
    if get_origin(tp) is list:
        (arg,) = get_args(tp)
        return model_of(arg)
    return None


def is_json(tp: Any) -> bool:
    """Does the environment variable take a JSON value (list, mapping, model)?"""
    if get_origin(tp) in (Union, types.UnionType):
        return any(is_json(a) for a in get_args(tp) if a is not type(None))
    return get_origin(tp) in (list, dict) or model_of(tp) is not None


def render_default(field: FieldInfo) -> str:
    """The default as it would be written in TOML or an environment variable."""
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if value is None:
        return "unset"
    data = TypeAdapter(Any if field.annotation is None else field.annotation).dump_python(
        value, mode="json")
    if isinstance(data, str):
        return f"`{data}`" if data else '`""`'
    return f"`{json.dumps(data, ensure_ascii=False)}`"


def cell(text: str) -> str:
    """A table cell: pipes escaped (GFM splits cells on them, even inside code spans)."""
    return text.replace("|", "\\|").replace("\n", " ")


def description(model: type[BaseModel], name: str, field: FieldInfo) -> str:
    if not field.description:
        raise ValueError(f"{model.__name__}.{name} has no Field(description=...)")
    return field.description


def rows(
    model: type[BaseModel], toml: str, env: str | None, anchors: dict[type[BaseModel], str]
) -> Iterator[tuple[str, ...]]:
    """One table row per field of ``model``; ``env`` is None for list items (no variable)."""
    for name, field in model.model_fields.items():
        tp = field.annotation
        key = f"{toml}{name}"
        var = "—"
        if env is not None:
            var = f"`{env}{name.upper()}`" + (" (JSON)" if is_json(tp) else "")
        kind = f"`{type_name(tp)}`"
        extra = bounds(field)
        default = render_default(field)
        nested = model_of(tp)
        if nested is not None:
            default = f"[see below](#{anchors[nested]})"
        elif item_model(tp) is ScopeSetting and field.get_default(call_default_factory=True):
            default = f"[built-in catalog](#{anchor(CATALOG)})"
        yield (f"`{key}`", var, kind + (f", {extra}" if extra else ""), default,
               description(model, name, field))


def table(lines: list[str], body: Iterator[tuple[str, ...]]) -> None:
    lines.append("| " + " | ".join(HEADER) + " |")
    lines.append("| " + " | ".join("---" for _ in HEADER) + " |")
    lines.extend("| " + " | ".join(cell(c) for c in row) + " |" for row in body)
    lines.append("")


def sections() -> list[tuple[type[BaseModel], str, str | None, str]]:
    """(model, TOML prefix, env prefix or None, title) for the settings and every nested model,
    found by walking the annotations (a model in a list has no per-field variable)."""
    prefix = str(Settings.model_config.get("env_prefix", ""))
    delim = str(Settings.model_config.get("env_nested_delimiter", ""))
    found: list[tuple[type[BaseModel], str, str | None, str]] = [
        (Settings, "", prefix, "Server settings")]
    for model, toml, env, _ in found:  # grows while iterating: breadth first
        for name, field in model.model_fields.items():
            nested, items = model_of(field.annotation), item_model(field.annotation)
            if nested is not None:
                sub_env = f"{env}{name.upper()}{delim}" if env is not None else None
                found.append((nested, f"{toml}{name}.", sub_env, f"`{toml}{name}`"))
            elif items is not None:
                found.append((items, f"{toml}{name}[].", None, f"Each entry of `{toml}{name}`"))
    return found


def anchor(title: str) -> str:
    """The GitHub anchor of a heading."""
    text = "".join(c for c in title.lower() if c.isalnum() or c in " -_")
    return text.strip().replace(" ", "-")


def catalog(lines: list[str]) -> None:
    lines += ["| name | description | requires_approval | min_tier | min_trust | internal |",
              "| --- | --- | --- | --- | --- | --- |"]
    for s in DEFAULT_SCOPES:
        lines.append(f"| `{s.name}` | {cell(s.description)} | {str(s.requires_approval).lower()} "
                     f"| {f'`{s.min_tier}`' if s.min_tier else '—'} | {s.min_trust} "
                     f"| {str(s.internal).lower()} |")
    lines.append("")


def render() -> str:
    conf = Settings.model_config
    prefix, delim = conf.get("env_prefix", ""), conf.get("env_nested_delimiter", "")
    found = sections()
    anchors = {model: anchor(f"{title} ({model.__name__})") for model, _, _, title in found}
    lines = [
        "# Configuration reference",
        "",
        "<!-- Generated by scripts/gen_config_docs.py from gatepass.settings: do not edit by hand.",
        "     Regenerate with `.venv/bin/python scripts/gen_config_docs.py --write`;"
        " tests/docs/test_config_doc.py fails when this file is stale. -->",
        "",
        "Gatepass has one settings model, `gatepass.settings.Settings` (pydantic-settings). "
        "Sources, highest priority first:",
        "",
        "1. explicit arguments (`load_settings(..., **overrides)`, tests);",
        f"2. environment variables: `{prefix}` + the field name, case-insensitive; nested "
        f"fields join with `{delim}` (`{prefix}AGENTS{delim}FREE_TIER`). Lists, mappings and "
        "models take a JSON value "
        f"(`{prefix}RESOURCES='[\"https://api.example.com\"]'`);",
    ]
    if conf.get("secrets_dir"):
        lines.append(f"3. the secrets directory `{conf['secrets_dir']}` (one file per field);")
    else:
        lines.append("3. a secrets directory: the source is wired in, but no `secrets_dir` is "
                     "configured, so today it contributes nothing;")
    lines += [
        "4. the TOML file given with `gatepass --config FILE` (or `GATEPASS_CONFIG_FILE`, which "
        "the server process reads too): top-level keys are the settings below, `[agents]` is a "
        "table, `[[scopes]]` and `[[agents.attestation_issuers]]` are arrays of tables;",
        "5. the defaults listed here.",
        "",
        ("Unknown keys in the TOML file (or arguments) are refused (`extra=\"forbid\"`). "
         if conf.get("extra") == "forbid" else "")
        + "`SecretStr` values are masked by `gatepass config show`. "
        "Bounds in the type column are checked at load time.",
        "",
        "Example `gatepass.toml`:",
        "",
        "```toml",
        *EXAMPLE_TOML.rstrip("\n").split("\n"),
        "```",
        "",
    ]
    for model, toml, env, title in found:
        lines += [f"## {title} ({model.__name__})", ""]
        doc = (model.__doc__ or "").strip().split("\n")[0]
        if doc:
            lines += [doc, ""]
        if env is None:
            lines += ["These entries have no environment variable of their own: set the whole list "
                      "as JSON in its variable, or write them as TOML tables.", ""]
        table(lines, rows(model, toml, env, anchors))
    lines += [f"## {CATALOG}", "",
              "The default of `scopes` (`gatepass.scopes.DEFAULT_SCOPES`). Configuring `scopes` "
              "replaces the whole list. Internal scopes are never advertised in "
              "`scopes_supported`.", ""]
    catalog(lines)
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help=f"write {OUTPUT.relative_to(ROOT)}")
    mode.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        OUTPUT.write_text(text, encoding="utf-8")
    elif args.check:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        if current != text:
            print(f"{OUTPUT.relative_to(ROOT)} is stale: run scripts/gen_config_docs.py --write",
                  file=sys.stderr)
            return 1
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
