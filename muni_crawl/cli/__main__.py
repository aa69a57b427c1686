"""`python -m muni_crawl.cli` runs the command line (the same as `muni-crawl`)."""

from muni_crawl.cli import main

main()
