"""Refresh the packaged copy of the example's spiders/ files from the repository's spiders/.

`muni-crawl demo` seeds an empty home from muni_crawl/example/spiders/, so that a plain
`pip install` can run it. The repository's spiders/ folder stays the original: edit the
example's files there, then run this script. The source files are copied byte for byte; the
packaged tenants.toml holds only the example tenants, written from spiders/tenants.toml.

    python scripts/sync_example_spiders.py          # (re)write the packaged copies
    python scripts/sync_example_spiders.py --check  # exit 1, naming each copy that is stale

tests/test_seed.py checks the same.
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from pathlib import Path

from muni_crawl.example.seed import EXAMPLE_SOURCES, EXAMPLE_TENANTS, PACKAGED_SPIDERS
from muni_crawl.sources import TENANTS_FILE

REPO = Path(__file__).resolve().parent.parent
SPIDERS = REPO / "spiders"

TENANTS_HEADER = """\
# The bundled offline example's tenants (fictional municipalities), for `muni-crawl demo`.
# Written by scripts/sync_example_spiders.py from the repository's spiders/tenants.toml:
# edit that file, not this copy.
"""


def tenants_text(spiders: Path = SPIDERS) -> str:
    """The packaged tenants.toml: the example tenants' tables of spiders/tenants.toml."""
    declared = tomllib.loads((spiders / TENANTS_FILE).read_text(encoding="utf-8"))
    missing = [slug for slug in EXAMPLE_TENANTS if slug not in declared]
    if missing:
        raise SystemExit(f"{spiders / TENANTS_FILE}: no table for {', '.join(missing)}")
    parts = [TENANTS_HEADER]
    for slug in EXAMPLE_TENANTS:
        lines = [f"[{slug}]"]
        for key, value in declared[slug].items():
            shown = json.dumps(value, ensure_ascii=False) if isinstance(value, str) else value
            lines.append(f"{key} = {shown}")
        parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)


def wanted(spiders: Path = SPIDERS) -> dict[str, bytes]:
    """File name -> the bytes its packaged copy should hold."""
    files = {TENANTS_FILE: tenants_text(spiders).encode("utf-8")}
    for name in EXAMPLE_SOURCES:
        files[f"{name}.toml"] = (spiders / f"{name}.toml").read_bytes()
    return files


def stale(spiders: Path = SPIDERS, packaged: Path = PACKAGED_SPIDERS) -> list[str]:
    """The packaged copies that differ from what `wanted` gives, or are missing."""
    return [
        name
        for name, data in wanted(spiders).items()
        if not (packaged / name).is_file() or (packaged / name).read_bytes() != data
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report stale copies, write none")
    args = parser.parse_args(argv)
    if args.check:
        names = stale()
        for name in names:
            print(f"{PACKAGED_SPIDERS / name} is not current", file=sys.stderr)
        return 1 if names else 0
    PACKAGED_SPIDERS.mkdir(exist_ok=True)
    for name, data in wanted().items():
        (PACKAGED_SPIDERS / name).write_bytes(data)
        print(f"wrote {PACKAGED_SPIDERS / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
