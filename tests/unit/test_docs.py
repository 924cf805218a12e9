"""The plugin guide (`docs/plugins.md`) keeps up with the code: every hook with its exact
signature and an example, every public name of `nhn_proxy.plugin`, every fixture of the
test kit (datasette's `tests/test_docs.py` idea). One test per hook, name or fixture, so a
failure says what is missing."""

from __future__ import annotations

import ast
import importlib.util
import inspect
import re
from pathlib import Path

import pytest

from nhn_proxy import hookspecs, plugin

ROOT = Path(__file__).resolve().parents[2]
GUIDE = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
README = (ROOT / "README.md").read_text(encoding="utf-8")
HOOKS = sorted(name for name in vars(hookspecs) if name.startswith("nhn_proxy_"))
HEADING = re.compile(r"(#+) (.*)")


def headings() -> list[tuple[int, str, int, int]]:
    """The guide's headings as (level, text, start, end) offsets, skipping code blocks
    (where `# ...` is a comment)."""
    found = []
    offset = 0
    fenced = False
    for line in GUIDE.splitlines(keepends=True):
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (match := HEADING.fullmatch(line.rstrip("\n"))):
            found.append((len(match.group(1)), match.group(2), offset, offset + len(line)))
        offset += len(line)
    return found


def _annotation(annotation: object) -> str:
    # with `from __future__ import annotations` (hookspecs has it) annotations are the
    # source text already; otherwise spell the object as the source would
    return annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)


def signature_of(hook_name: str) -> str:
    """`nhn_proxy_routes(config: PluginConfig) -> list[Route]`, as written in hookspecs."""
    signature = inspect.signature(getattr(hookspecs, hook_name))
    parameters = []
    for parameter in signature.parameters.values():
        text = parameter.name
        if parameter.annotation is not inspect.Parameter.empty:
            text += f": {_annotation(parameter.annotation)}"
        if parameter.default is not inspect.Parameter.empty:
            text += f" = {parameter.default!r}"
        parameters.append(text)
    text = f"{hook_name}({', '.join(parameters)})"
    if signature.return_annotation is not inspect.Signature.empty:
        text += f" -> {_annotation(signature.return_annotation)}"
    return text


def section_under(heading_text: str) -> str:
    """The guide's text under the heading containing `heading_text`, up to the next
    heading of the same or a higher level ("" when there is no such heading)."""
    found = headings()
    for index, (level, text, _start, after) in enumerate(found):
        if heading_text not in text:
            continue
        end = len(GUIDE)
        for later_level, _text, later_start, _after in found[index + 1 :]:
            if later_level <= level:
                end = later_start
                break
        return GUIDE[after:end]
    return ""


def test_the_hooks_are_found():
    # a guard for the tests below: an empty list would make them pass vacuously
    assert {"nhn_proxy_settings", "nhn_proxy_routes", "nhn_proxy_demo_examples"} <= set(HOOKS)
    assert (
        signature_of("nhn_proxy_routes") == "nhn_proxy_routes(config: PluginConfig) -> list[Route]"
    )


@pytest.mark.parametrize("hook_name", HOOKS)
def test_every_hook_has_a_heading_with_its_exact_signature(hook_name):
    signature = signature_of(hook_name)
    assert any(f"`{signature}`" in text for _level, text, _start, _end in headings()), (
        f"docs/plugins.md has no heading with `{signature}`"
    )


@pytest.mark.parametrize("hook_name", HOOKS)
def test_every_hook_is_explained_with_an_example(hook_name):
    section = section_under(f"`{signature_of(hook_name)}`")
    assert "**When:**" in section and "**Returns:**" in section, (
        f"the section of {hook_name} must say when it is called and what it returns"
    )
    assert re.search(rf"```python\n(.*\n)*?.*def {hook_name}\(", section), (
        f"the section of {hook_name} has no Python example implementing it"
    )


def test_the_guide_names_no_hook_that_does_not_exist():
    # e.g. the removed nhn_proxy_watchers; the example package's name is not a hook
    for text, where in ((GUIDE, "docs/plugins.md"), (README, "README.md")):
        named = set(re.findall(r"\bnhn_proxy_(?!example_plugin)[a-z_]+\b", text))
        assert named <= set(HOOKS), f"{where} names hooks that do not exist: {named - set(HOOKS)}"


@pytest.mark.parametrize("name", sorted(plugin.__all__))
def test_every_public_name_is_documented(name):
    assert f"`{name}`" in GUIDE, f"docs/plugins.md does not mention `{name}` (nhn_proxy.plugin)"


@pytest.mark.parametrize("name", sorted(plugin.__all__))
def test_every_public_name_is_in_the_overview_table(name):
    overview = section_under("The public names at a glance")
    assert f"`{name}`" in overview, f"`{name}` is missing from the guide's table of names"


def _test_kit_fixtures() -> list[str]:
    """The public fixtures of nhn_proxy.testing: functions decorated with `pytest.fixture`
    or `pytest_asyncio.fixture` (called or not), read from its source."""
    spec = importlib.util.find_spec("nhn_proxy.testing")
    if spec is None or spec.origin is None:
        return []
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    fixtures = []
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for decorator in node.decorator_list:
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            if isinstance(target, ast.Attribute) and target.attr == "fixture":
                if not node.name.startswith("_"):
                    fixtures.append(node.name)
                break
    return sorted(fixtures)


FIXTURES = _test_kit_fixtures()


@pytest.mark.skipif(not FIXTURES, reason="nhn_proxy.testing does not exist (yet)")
@pytest.mark.parametrize("fixture", FIXTURES or ["-"])
def test_every_fixture_of_the_test_kit_is_documented(fixture):
    section = section_under("Testing a plugin")
    assert f"`{fixture}`" in section, f"docs/plugins.md does not describe the fixture `{fixture}`"


def test_the_readme_summarises_the_guide():
    start = README.index("## Writing a plugin")
    end = README.find("\n## ", start + 1)
    summary = README[start : end if end != -1 else len(README)]
    assert "docs/plugins.md" in summary
    for needed in (*HOOKS, "nhn_proxy.plugin", "nhn_proxy.testing", "nhn-proxy plugins"):
        assert needed in summary, f"README's plugin section does not mention {needed}"
    assert "examples/nhn-proxy-example-plugin" in summary
