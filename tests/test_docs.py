"""The documentation's code runs (pages and API docstrings), and its CLI reference comes from the parser.

Convention for code blocks in ``README.md``, ``docs/**/*.md`` and docstrings: a block fenced with
exactly ```` ```python ```` is meant to run and is executed here; the blocks of one page
run in order in one namespace, in a fresh temporary directory. A block that is not meant
to run (it needs a server, a plugin that is not installed, or is a file of another
project) carries a title instead, ```` ```python title="app.py" ````, which the docs
render as a file name. Shell, TOML and text blocks are never run.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

import payloadkit as pk
from payloadkit._registry import registry
from payloadkit.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
FENCE = re.compile(r"^```python\n(.*?)^```\s*$", re.DOTALL | re.MULTILINE)


def _blocks(page: Path) -> list[str]:
    return FENCE.findall(page.read_text(encoding="utf-8"))


@pytest.fixture
def fresh_registry() -> Iterator[None]:
    """Serializers registered by a code block do not leak into other tests, nor theirs in."""
    registry.reset()
    yield
    registry.reset()


def _pages_with_code() -> list[Path]:
    return [page for page in PAGES if _blocks(page)]


def test_docs_have_runnable_code() -> None:
    """The extraction finds the README's and the guides' runnable blocks."""
    names = {p.relative_to(ROOT).as_posix() for p in _pages_with_code()}
    assert {"README.md", "docs/index.md", "docs/concepts.md", "docs/security.md"} <= names


@pytest.mark.parametrize("page", _pages_with_code(), ids=lambda p: p.relative_to(ROOT).as_posix())
@pytest.mark.usefixtures("fresh_registry")
def test_code_blocks_run(page: Path) -> None:
    """Every runnable python block of the page executes without error, in order."""
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for number, code in enumerate(_blocks(page), 1):
        try:
            exec(compile(code, f"{page.name}[block {number}]", "exec"), namespace)
        finally:
            pk.configure(reset=True)


def _hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "cli_reference", ROOT / "docs" / "_hooks" / "cli_reference.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_reference_is_generated_from_the_parser() -> None:
    """The reference page's marker becomes the --help of every command of build_parser()."""
    hook = _hook()
    page = (ROOT / "docs" / "reference" / "cli.md").read_text(encoding="utf-8")
    assert hook.MARKER in page
    rendered = hook.on_page_markdown(page)
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    assert commands
    for name, command in commands.items():  # type: ignore[union-attr]
        assert f"## `payloadkit {name}`" in rendered
        assert f"usage: payloadkit {name}" in rendered
        for action in command._actions:
            for flag in action.option_strings:
                assert flag in rendered
    too_wide = [line for line in hook.cli_reference().splitlines() if len(line) > 80]
    assert too_wide == []


def test_mkdocs_config_lists_every_page() -> None:
    """Every page under docs/ is in the navigation, and every nav entry exists."""
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    listed = set(re.findall(r":\s+([\w/-]+\.md)\s*$", config, re.MULTILINE))
    pages = {p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").rglob("*.md")}
    assert listed == pages


def _docstring_blocks() -> list[tuple[str, str]]:
    """(where, code) for every runnable block in the docstrings of payloadkit's modules."""
    import importlib
    import inspect
    import pkgutil

    found: dict[str, str] = {}
    names = ["payloadkit", *(i.name for i in pkgutil.walk_packages(pk.__path__, "payloadkit."))]
    for module_name in names:
        if module_name.endswith("__main__"):
            continue  # running it is the command line itself
        module = importlib.import_module(module_name)
        objects: list[tuple[str, object]] = [(module_name, module)]
        for name, obj in vars(module).items():
            if getattr(obj, "__module__", None) == module_name:
                objects.append((f"{module_name}.{name}", obj))
                if inspect.isclass(obj):
                    objects += [(f"{module_name}.{name}.{m}", v) for m, v in vars(obj).items()]
        for where, obj in objects:
            doc = obj.__doc__ if isinstance(obj.__doc__, str) else None
            for number, code in enumerate(FENCE.findall(inspect.cleandoc(doc or "") + "\n"), 1):
                found.setdefault(code, f"{where}[{number}]")
    return sorted((where, code) for code, where in found.items())


@pytest.mark.parametrize(
    ("where", "code"), [pytest.param(w, c, id=w) for w, c in _docstring_blocks()]
)
@pytest.mark.usefixtures("fresh_registry")
def test_docstring_code_runs(where: str, code: str) -> None:
    """Runnable python blocks in docstrings (the API reference shows them) execute."""
    try:
        exec(compile(code, where, "exec"), {"__name__": "__docstring__"})
    finally:
        pk.configure(reset=True)


def test_readme_opens_with_the_two_commands() -> None:
    """The README starts with its title, one sentence, then the demo and test commands."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    title, sentence, rest = text.split("\n\n", 2)
    assert title == "# payloadkit"
    assert sentence.count(". ") == 0
    assert sentence.endswith(".")
    blocks = re.findall(r"```bash\n(.*?)\n```", rest, re.DOTALL)
    assert blocks[:2] == [
        "python -m pip install tox && tox -e demo",
        "python -m pip install tox && tox",
    ]
    first = rest.removeprefix(rest.split("\n", 1)[0] + "\n") if rest.startswith("<!--") else rest
    assert first.startswith("```bash\npython -m pip install tox && tox -e demo\n```")
