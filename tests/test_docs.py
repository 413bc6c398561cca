"""The documentation: the site builds strictly (no broken link, anchor or API reference), the
README stays a front page, every results file is cited, and the Python examples run."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO, SHARED_TEST, link_subset

DOCS = REPO / "docs"
README_LIMIT = 10_000  # bytes: what it is, the two commands, an example, the headline figures
PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                             str(tmp_path / "site")], cwd=REPO, capture_output=True, text=True,
                            timeout=300, env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-3000:]
    cli = (tmp_path / "site" / "reference" / "cli" / "index.html").read_text()
    from fingerspell.cli import build_parser
    commands = next(a for a in build_parser()._actions if a.dest == "command").choices
    for name in commands:  # generated from the parser: every command has its section
        assert f"fingerspell {name}</code>" in cli, name
    api = (tmp_path / "site" / "reference" / "python" / "index.html").read_text()
    assert "predict_images" in api and "LiveSession" in api  # mkdocstrings rendered the classes


def test_the_readme_is_a_front_page() -> None:
    size = len((REPO / "README.md").read_bytes())
    assert size < README_LIMIT, f"README.md is {size} bytes: move the detail into docs/"
    for target in re.findall(r"\]\((docs/[^)#]+)", (REPO / "README.md").read_text()):
        assert (REPO / target).is_file(), f"README links to a missing page: {target}"


def test_every_results_file_is_cited_by_a_page() -> None:
    pages = "\n".join(p.read_text() for p in DOCS.rglob("*.md"))
    uncited = [p.name for p in sorted((REPO / "benchmarks" / "results").iterdir())
               if p.name not in pages]
    assert not uncited, f"results no page cites (cite them or remove them): {uncited}"


def _examples() -> list[tuple[str, str]]:
    pages = [REPO / "README.md", *sorted(DOCS.rglob("*.md"))]
    return [(str(page.relative_to(REPO)), "\n".join(PYTHON_BLOCK.findall(page.read_text())))
            for page in pages if PYTHON_BLOCK.search(page.read_text())]


@pytest.fixture(scope="module")
def example_folder(shared_train: Path, shared_signers: Path, hand_model: Path,
                   tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The names the examples use, as small real folders: Kaggle frames, photos of other people,
    the Kaggle test photos, and one photo to predict."""
    root = tmp_path_factory.mktemp("examples")
    letters = ["A", "B", "C", "D"]
    link_subset(shared_train, root / "asl_alphabet_train", letters, per_class=10, step=25)
    for letter in letters:
        (root / "multi_signer" / letter).mkdir(parents=True)
        for photo in sorted((shared_signers / letter).iterdir())[:8]:
            (root / "multi_signer" / letter / photo.name).symlink_to(photo)
    (root / "asl_alphabet_test").mkdir()
    for letter in letters:
        (root / "asl_alphabet_test" / f"{letter}_test.jpg").symlink_to(SHARED_TEST / f"{letter}_test.jpg")
    for name in ("photo.jpg", "hand.jpg"):
        (root / name).symlink_to(SHARED_TEST / "B_test.jpg")
    return root


@pytest.mark.parametrize(("page", "code"), _examples(), ids=[page for page, _ in _examples()])
def test_the_python_examples_run(page: str, code: str, example_folder: Path, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    for entry in example_folder.iterdir():  # each page in its own folder: its runs are its own
        (tmp_path / entry.name).symlink_to(entry)
    monkeypatch.chdir(tmp_path)
    import fingerspell
    photos = sorted((example_folder / "asl_alphabet_train" / "C").iterdir())[:2]
    namespace = {"fingerspell": fingerspell, "paths": photos, "labels": ["C"] * len(photos)}
    exec(compile(code, page, "exec"), namespace)  # a failing example fails here, naming its page
    if "predictions" in namespace:  # every page that predicts reads photo.jpg / hand.jpg: a B
        assert namespace["predictions"][0].label == "B"
    if "session" in namespace:  # the live page holds C, then B: the text it shows
        assert namespace["session"].text == "CB"
    if "answer" in namespace:  # the serve page's in-process call reads the same B
        assert namespace["answer"]["label"] == "B"
    if "run" in namespace:  # ... and spells the same with LiveSession.run
        assert namespace["run"].text == "CB" and namespace["run"].frames == 48
