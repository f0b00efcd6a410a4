"""The project explains itself: every reference in code, configs and docs points inside this repository.

Comments and docstrings cite papers (title, venue, arXiv id) or the project's own pages under ``docs/``; a cited
page must exist and be part of the site's navigation. These are text checks on tracked files, no docs build.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
# files outside the repository that earlier comments pointed to (the team's notes, the reading list's numbered
# seed texts); none may be cited any more
OUTSIDE = re.compile(r"METHODS\.md|ARCHITECTURE\.md|ECOSYSTEM\.md|\.\./shared\b|\bshared/seeds\b|\bseeds? 00\d\b")
DOCS_PAGE = re.compile(r"\bdocs/([\w./-]+?\.md)\b")
THIS = Path(__file__).resolve().relative_to(ROOT).as_posix()


def _tracked_text_files() -> list[Path]:
    try:
        out = subprocess.run(
            ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
        ).stdout
    except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired):
        pytest.skip("not a git checkout: the tracked-file checks need `git ls-files`")
    keep = {".py", ".yaml", ".yml", ".md", ".toml", ".cfg", ".txt", ".sh", ""}
    paths = [ROOT / line for line in out.splitlines() if line and line != THIS]
    return [p for p in paths if p.is_file() and (p.suffix in keep or p.name in {"Makefile", "run"})]


def _nav_pages(nav: list) -> set[str]:
    pages: set[str] = set()
    for entry in nav:
        values = entry.values() if isinstance(entry, dict) else [entry]
        for value in values:
            if isinstance(value, list):
                pages |= _nav_pages(value)
            else:
                pages.add(str(value))
    return pages


def test_no_reference_points_outside_the_repository() -> None:
    hits = []
    for path in _tracked_text_files():
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if OUTSIDE.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:100]}")
    assert not hits, "references to files outside this repository (cite the paper or a docs/ page):\n" + "\n".join(hits)


def test_every_cited_docs_page_exists_and_is_in_the_site_nav() -> None:
    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=yaml.BaseLoader)
    nav = _nav_pages(config["nav"])
    missing, unlisted = [], []
    for path in _tracked_text_files():
        if path.is_relative_to(ROOT / "docs"):
            continue  # pages link each other relatively; mkdocs --strict checks those links
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            for page in DOCS_PAGE.findall(line):
                where = f"{path.relative_to(ROOT)}:{number}: docs/{page}"
                if not (ROOT / "docs" / page).is_file():
                    missing.append(where)
                elif page not in nav:
                    unlisted.append(where)
    assert not missing, "cited docs pages that do not exist:\n" + "\n".join(missing)
    assert not unlisted, "cited docs pages missing from mkdocs.yml's nav:\n" + "\n".join(unlisted)


def test_every_docs_page_is_in_the_site_nav() -> None:
    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=yaml.BaseLoader)
    nav = _nav_pages(config["nav"])
    pages = {p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").rglob("*.md")}
    assert pages - nav == set(), f"pages under docs/ not reachable from the nav: {sorted(pages - nav)}"
    assert nav - pages == set(), f"nav entries without a page: {sorted(nav - pages)}"
