"""The README's methods table is the registry's (`hf-unlearn methods --markdown`), so it cannot drift."""

from pathlib import Path

from hf_unlearn.registry import methods_markdown


def test_readme_methods_table_is_current():
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    assert methods_markdown() in readme, "README methods table is stale: paste `hf-unlearn methods --markdown`"
