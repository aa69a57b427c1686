"""The example's spiders/ files, shipped in the package: `muni-crawl demo` from a plain install.

The repository's spiders/ folder is the original; muni_crawl/example/spiders/ is a copy kept in
step by scripts/sync_example_spiders.py (tests/test_seed.py fails when they drift).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from muni_crawl.sources import TENANTS_FILE

PACKAGED_SPIDERS = Path(__file__).parent / "spiders"
EXAMPLE_SOURCES = ("example", "naboby", "example-borger", "example-selvbetjening")
EXAMPLE_TENANTS = ("example", "naboby")


def is_empty(spiders_dir: Path) -> bool:
    """True when a home has no spiders/ folder, or one with no TOML file in it (nothing to
    lose by seeding it); a folder with only a tenants.toml is someone's work, not empty."""
    return not spiders_dir.is_dir() or not any(spiders_dir.glob("*.toml"))


def packaged_files() -> list[Path]:
    """The packaged copies: tenants.toml and one file per example source."""
    names = [TENANTS_FILE, *(f"{name}.toml" for name in EXAMPLE_SOURCES)]
    files = [PACKAGED_SPIDERS / name for name in names]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise FileNotFoundError(
            "the installed package lacks the example's spiders files: " + ", ".join(missing)
        )
    return files


def seed_spiders(spiders_dir: Path) -> list[Path]:
    """Copy the packaged example spiders files into `spiders_dir` (created if missing); return
    the files written. Refuses a folder that is not empty (see is_empty)."""
    if not is_empty(spiders_dir):
        raise FileExistsError(f"{spiders_dir} is not empty: not seeding it with the example")
    spiders_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for source in packaged_files():
        target = spiders_dir / source.name
        shutil.copyfile(source, target)
        written.append(target)
    return written
