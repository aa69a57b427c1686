"""Environment variables set around one library call, then restored.

Some libraries read their configuration only from the environment (tiktoken's cache folder,
Hugging Face's offline switch). A library must not change its host application's environment
for good, so muni_crawl sets them for the call that reads them and puts the old values back.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.RLock()  # a scoped call may itself set a scoped variable


@contextmanager
def scoped_environment(**values: str) -> Iterator[None]:
    """Within the block, these variables have these values; afterwards, what they had."""
    with _lock:
        saved = {key: os.environ.get(key) for key in values}
        os.environ.update(values)
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
