"""docs/configuration.md is generated from ``gatepass.settings`` and cannot drift (DESIGN §6).

The committed page must equal what ``scripts/gen_config_docs.py`` renders now; every field of
every settings model must carry a description; and what the page says about sources (TOML
layout, variable names, JSON values) must hold for the real model.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from pydantic import BaseModel

from gatepass.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "configuration.md"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_config_docs",
                                                  ROOT / "scripts" / "gen_config_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen = _generator()


def test_committed_page_is_what_the_generator_renders() -> None:
    assert DOC.read_text(encoding="utf-8") == gen.render(), (
        "docs/configuration.md is stale: run .venv/bin/python scripts/gen_config_docs.py --write")


def test_check_mode_agrees(capsys: pytest.CaptureFixture[str]) -> None:
    assert gen.main(["--check"]) == 0
    assert capsys.readouterr().err == ""


def test_every_field_of_every_settings_model_has_a_description_and_a_row() -> None:
    text = DOC.read_text(encoding="utf-8")
    models = gen.sections()
    assert {m.__name__ for m, *_ in models} == {
        "Settings", "AgentSettings", "ScopeSetting", "AttestationIssuerSetting"}
    for model, toml, _, _ in models:
        assert issubclass(model, BaseModel)
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} needs Field(description=...)"
            assert f"| `{toml}{name}` |" in text, f"{toml}{name} missing from the page"


def test_a_field_without_a_description_is_an_error() -> None:
    class Bare(BaseModel):
        undocumented: int = 0

    with pytest.raises(ValueError, match=r"Bare\.undocumented"):
        list(gen.rows(Bare, "", "GATEPASS_", {}))


def test_the_example_toml_loads(tmp_path: Path) -> None:
    config = tmp_path / "gatepass.toml"
    config.write_text(gen.EXAMPLE_TOML, encoding="utf-8")
    settings = load_settings(config)
    assert settings.issuer == "https://auth.example.com"
    assert settings.agents.free_tier == "agent_free"
    assert settings.agents.attestation_issuers[0].trust_level == 1
    assert [s.name for s in settings.scopes] == ["read:projects", "execute:deployments"]
    assert gen.EXAMPLE_TOML in DOC.read_text(encoding="utf-8")


def test_variable_names_nesting_and_json_values_are_as_documented(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    text = DOC.read_text(encoding="utf-8")
    for var in ("GATEPASS_LOG_LEVEL", "GATEPASS_RESOURCES", "GATEPASS_AGENTS__FREE_TIER"):
        assert f"`{var}`" in text
    monkeypatch.setenv("gatepass_log_level", "DEBUG")  # case-insensitive
    monkeypatch.setenv("GATEPASS_RESOURCES", '["https://api.example.com"]')
    monkeypatch.setenv("GATEPASS_AGENTS__FREE_TIER", "agent_free")
    config = tmp_path / "gatepass.toml"
    config.write_text('log_level = "ERROR"\n', encoding="utf-8")
    settings = load_settings(config)
    assert settings.log_level == "DEBUG"  # the environment beats the TOML file
    assert settings.resources == ["https://api.example.com"]
    assert settings.agents.free_tier == "agent_free"


def test_unknown_toml_keys_are_refused_as_documented(tmp_path: Path) -> None:
    assert Settings.model_config.get("extra") == "forbid"
    config = tmp_path / "gatepass.toml"
    config.write_text("no_such_setting = 1\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no_such_setting"):
        load_settings(config)


def test_generator_runs_as_a_script() -> None:
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_config_docs.py")],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout == DOC.read_text(encoding="utf-8")
