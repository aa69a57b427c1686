"""How `muni-crawl serve` hands its options to each uvicorn worker process.

uvicorn starts its workers as fresh processes that import the app by name, so the options
travel in one environment variable (JSON) rather than as Python objects. The variable has no
MUNI_CRAWL_ prefix on purpose: it is internal, not a setting.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from muni_crawl.errors import ConfigError
from muni_crawl.logconfig import LogOptions

OPTIONS_VARIABLE = "_MUNI_CRAWL_SERVE_OPTIONS"
DEFAULT_THREADS = 4
MAX_THREADS = 64


@dataclass(frozen=True)
class ServeOptions:
    """One server's options: its home (None: $MUNI_CRAWL_HOME, else the current directory),
    its keys file, its answering threads, and the logging a worker process sets up (None:
    leave the process's logging as it is)."""

    home: Path | None = None
    keys_file: Path | None = None
    threads: int = DEFAULT_THREADS
    log: LogOptions | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.threads <= MAX_THREADS:
            raise ConfigError(f"threads must be between 1 and {MAX_THREADS}, got {self.threads}")

    def to_json(self) -> str:
        log = self.log
        return json.dumps(
            {
                "home": str(self.home) if self.home is not None else None,
                "keys_file": str(self.keys_file) if self.keys_file is not None else None,
                "threads": self.threads,
                "log": None
                if log is None
                else {
                    "verbose": log.verbose,
                    "quiet": log.quiet,
                    "log_file": str(log.log_file) if log.log_file is not None else None,
                    "log_format": log.log_format,
                    "max_mb": log.max_mb,
                    "backups": log.backups,
                },
            }
        )

    @classmethod
    def from_json(cls, text: str) -> ServeOptions:
        data = json.loads(text)
        log = data.get("log")
        return cls(
            home=Path(data["home"]) if data.get("home") else None,
            keys_file=Path(data["keys_file"]) if data.get("keys_file") else None,
            threads=int(data.get("threads", DEFAULT_THREADS)),
            log=None
            if log is None
            else LogOptions(
                verbose=int(log["verbose"]),
                quiet=bool(log["quiet"]),
                log_file=Path(log["log_file"]) if log.get("log_file") else None,
                log_format=str(log["log_format"]),
                max_mb=float(log["max_mb"]),
                backups=int(log["backups"]),
            ),
        )

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> ServeOptions:
        """The options `muni-crawl serve` left for this worker; the defaults without them."""
        text = environ.get(OPTIONS_VARIABLE)
        return cls.from_json(text) if text else cls()
