"""docs/rfc-support.md cites only modules and tests that exist (DESIGN §7.4).

The page maps spec sections to modules and tests in Markdown tables. Every backticked repository
path must exist, every ``tests/...py::test_name`` must name a test function in that file (found
with ``ast``; parametrized ids are not needed), every mapping row must cite at least one module
and one test, and every protocol module whose docstring cites an RFC or draft must be mapped.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "rfc-support.md"

MAPPING_HEADER = ("Section", "What we do", "Module", "Tests")
CODE_SPAN = re.compile(r"`([^`]+)`")
CELL_SPLIT = re.compile(r"(?<!\\)\|")
REPO_PATH = re.compile(r"^(?:src|tests|examples|scripts|docs|bench)/[\w./-]*$")
TEST_REF = re.compile(r"^(tests/[\w./-]+\.py)::([A-Za-z_]\w*)$")
CITES_SPEC = re.compile(r"RFC \d{4}|draft-ietf-")
PROTOCOL_DIRS = ("core", "rs", "http", "keys", "agent")
NOT_PROTOCOL = {"src/gatepass/rs/__init__.py"}  # re-exports the toolkit, implements nothing


@dataclass(frozen=True)
class Table:
    line: int
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


def split_row(line: str) -> tuple[str, ...]:
    """Cells of a Markdown table row (escaped pipes stay in their cell)."""
    return tuple(c.strip() for c in CELL_SPLIT.split(line.strip().strip("|")))


def parse_tables(text: str) -> list[Table]:
    tables: list[Table] = []
    block: list[tuple[int, str]] = []
    for number, line in enumerate([*text.splitlines(), ""], start=1):
        if line.lstrip().startswith("|"):
            block.append((number, line))
            continue
        if block:
            assert len(block) >= 2 and set(block[1][1]) <= set("|-: "), (
                f"line {block[0][0]}: a table needs a header and a separator row")
            tables.append(Table(block[0][0], split_row(block[0][1]),
                                tuple(split_row(row) for _, row in block[2:])))
            block = []
    return tables


def spans(cell: str) -> list[str]:
    return CODE_SPAN.findall(cell)


@cache
def defined_tests(path: str) -> frozenset[str]:
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    return frozenset(node.name for node in ast.walk(tree)
                     if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                     and node.name.startswith("test"))


def problems(text: str) -> list[str]:
    """Everything wrong with a page: missing paths or tests, rows without module or test."""
    found: list[str] = []
    for token in CODE_SPAN.findall(text):
        ref = TEST_REF.match(token)
        if ref is not None:
            path, name = ref.groups()
            if not (ROOT / path).is_file():
                found.append(f"{token}: no such test file")
            elif name not in defined_tests(path):
                found.append(f"{token}: no test function {name} in {path}")
        elif REPO_PATH.match(token) and not (ROOT / token).exists():
            found.append(f"{token}: no such path")
    for table in parse_tables(text):
        if table.header != MAPPING_HEADER:
            continue
        for row in table.rows:
            if len(row) != len(MAPPING_HEADER):
                found.append(f"table at line {table.line}: row {row[0]!r} has {len(row)} cells")
                continue
            section, _, modules, tests = row
            mods, refs = spans(modules), spans(tests)
            if not mods or any(not (REPO_PATH.match(m) and m.endswith(".py")) for m in mods):
                found.append(f"{section}: the Module cell must list .py paths")
            if not refs or any(not TEST_REF.match(r) for r in refs):
                found.append(f"{section}: the Tests cell must list file::test references")
    return found


def mapped_modules(text: str) -> set[str]:
    return {m for table in parse_tables(text) if table.header == MAPPING_HEADER
            for row in table.rows if len(row) == len(MAPPING_HEADER) for m in spans(row[2])}


def protocol_modules() -> list[str]:
    """Modules whose docstring's first paragraph names the RFC or draft they implement."""
    paths = [p for d in PROTOCOL_DIRS for p in (ROOT / "src" / "gatepass" / d).rglob("*.py")]
    paths += [ROOT / "src" / "gatepass" / "scopes.py", ROOT / "src" / "gatepass" / "errors.py"]
    found = []
    for path in sorted(paths):
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        rel = path.relative_to(ROOT).as_posix()
        if CITES_SPEC.search(doc.split("\n\n")[0]) and rel not in NOT_PROTOCOL:
            found.append(rel)
    return found


@pytest.fixture(scope="module")
def text() -> str:
    return DOC.read_text(encoding="utf-8")


def test_every_cited_path_and_test_exists_and_every_row_cites_both(text: str) -> None:
    assert problems(text) == []


def test_the_page_really_cites_things(text: str) -> None:
    """Guards the checks above against passing on a page they failed to parse."""
    mapping = [t for t in parse_tables(text) if t.header == MAPPING_HEADER]
    refs = {t for t in CODE_SPAN.findall(text) if TEST_REF.match(t)}
    assert len(mapping) >= 20
    assert sum(len(t.rows) for t in mapping) >= 100
    assert len(refs) >= 200
    assert len(mapped_modules(text)) >= 50


@pytest.mark.parametrize("heading", [
    "RFC 6749", "RFC 6750", "RFC 7009", "RFC 7515", "RFC 7517", "RFC 7523", "RFC 7591",
    "RFC 7592", "RFC 7636", "RFC 7662", "RFC 8252", "RFC 8414", "RFC 8707", "RFC 9068",
    "RFC 9207", "RFC 9700", "RFC 9728", "RFC 9864", "OAuth 2.1", "Client ID Metadata Documents",
    "MCP authorization", "RateLimit header fields", "Not implemented",
])
def test_every_specification_has_its_section(text: str, heading: str) -> None:
    assert any(line.startswith("## ") and heading in line for line in text.splitlines())


def test_every_protocol_module_is_mapped(text: str) -> None:
    modules = protocol_modules()
    assert len(modules) >= 40
    assert sorted(set(modules) - mapped_modules(text)) == []


def test_the_checks_catch_what_they_should() -> None:
    head = "| Section | What we do | Module | Tests |\n| --- | --- | --- | --- |\n"
    good = "`src/gatepass/scopes.py`"
    test = "`tests/unit/test_scopes.py::test_scopes_split_action_resource`"
    assert problems(head + f"| §1 | x | {good} | {test} |\n") == []
    assert problems(f"`src/gatepass/nowhere.py` {test}") == [
        "src/gatepass/nowhere.py: no such path"]
    assert problems("`tests/unit/test_scopes.py::test_nothing_like_this`") == [
        "tests/unit/test_scopes.py::test_nothing_like_this: no test function "
        "test_nothing_like_this in tests/unit/test_scopes.py"]
    assert problems("`tests/unit/test_none.py::test_x`") == [
        "tests/unit/test_none.py::test_x: no such test file"]
    assert problems(head + f"| §2 | x | {good} | — |\n") == [
        "§2: the Tests cell must list file::test references"]
    assert problems(head + f"| §3 | x | — | {test} |\n") == [
        "§3: the Module cell must list .py paths"]
