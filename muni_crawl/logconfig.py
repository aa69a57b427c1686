"""Logging as the CLI and its crawl workers set it up: line format, levels, stderr, a rotating file.

Only the command line configures handlers (the package itself has a NullHandler). Each line
carries a timestamp, the level and the logger's name, as text or as one JSON object per line
for log shippers. stderr shows warnings and errors (with --quiet only errors; -v info, -vv
debug; Scrapy's per-request errors, already in each crawl's summary, not with --quiet).
Tracebacks only with -v: without it an exception is one line, "(Type: message)". A
log file (--log-file) rotates by size, also keeps muni_crawl's INFO lines (each crawl's
result), and is shared safely by the CLI and its crawl worker processes: each write holds a
lock and follows a rotation that another process made. A crawl worker gets the same
configuration on its command line (`worker_arguments`).
"""

from __future__ import annotations

import fcntl
import json
import logging
import logging.handlers
import os
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from muni_crawl.errors import ConfigError

LOG_FORMATS = ("text", "json")
DEFAULT_MAX_MB = 10
DEFAULT_BACKUPS = 5
MIN_LOG_MB = 0.01
MAX_LOG_MB = 10_000.0
MAX_BACKUPS = 100
# third-party loggers kept at WARNING: bm25s logs every index load
_QUIET_AT_INFO = ("bm25s",)


@dataclass(frozen=True)
class LogOptions:
    """How this process logs: the CLI's global options, handed on to crawl workers."""

    verbose: int = 0
    quiet: bool = False  # --quiet: only errors on stderr
    log_file: Path | None = None
    log_format: str = "text"
    max_mb: float = DEFAULT_MAX_MB
    backups: int = DEFAULT_BACKUPS

    def __post_init__(self) -> None:
        if self.log_format not in LOG_FORMATS:
            raise ValueError(f"log format {self.log_format!r}: expected one of {LOG_FORMATS}")

    def worker_arguments(self) -> list[str]:
        """The worker command line options that reproduce this configuration (-v is passed
        separately, as before)."""
        args = ["--log-format", self.log_format]
        if self.quiet:
            args.append("--log-quiet")
        if self.log_file is not None:
            args += [
                "--log-file",
                str(self.log_file),
                "--log-max-mb",
                str(self.max_mb),
                "--log-backups",
                str(self.backups),
            ]
        return args


_current: LogOptions | None = None
_installed: list[logging.Handler] = []
_levels_set: dict[str, int] = {}


def configure(options: LogOptions, source: str | None = None) -> None:
    """Install this process's handlers (replacing any this module installed before). A crawl
    worker names its `source`: JSON lines then carry it (text lines get it as a prefix from
    the parent when several workers share its stderr)."""
    global _current
    reset()
    stderr_level = (
        logging.DEBUG
        if options.verbose >= 2
        else logging.INFO
        if options.verbose == 1
        else logging.ERROR
        if options.quiet
        else logging.WARNING
    )
    stderr = CurrentStderrHandler()
    stderr.setLevel(stderr_level)
    if options.quiet and options.verbose == 0:
        # Scrapy's errors per request (retries given up, robots.txt not fetched) are in each
        # crawl's summary already; with --quiet they go to the log file only
        stderr.addFilter(_own_errors_only)
    stderr.setFormatter(_formatter(options.log_format, options.verbose >= 1, source))
    handlers: list[logging.Handler] = [stderr]
    root_level = stderr_level
    if options.log_file is not None:
        path = options.log_file.expanduser().resolve()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            file = SharedRotatingFileHandler(
                path, max_bytes=int(options.max_mb * 1024 * 1024), backups=options.backups
            )
        except OSError as exc:
            stderr.close()
            raise ConfigError(
                f"log file {path}: cannot write to it: {exc.strerror or exc}"
            ) from exc
        # muni_crawl's INFO lines; other libraries' from WARNING (with -v as on stderr), so
        # Scrapy's start-up dumps stay out and --quiet, which is about stderr, loses nothing
        others = min(logging.WARNING, stderr_level)
        file.setLevel(min(logging.INFO, stderr_level))
        file.addFilter(_OwnInfo(others))
        file.setFormatter(_formatter(options.log_format, options.verbose >= 1, source))
        handlers.append(file)
        root_level = min(root_level, others)
        options = _with_path(options, path)
        # the file keeps a record of every run: muni_crawl's own INFO lines go there
        _set_level("muni_crawl", min(logging.INFO, stderr_level))
    root = logging.getLogger()
    for handler in handlers:
        root.addHandler(handler)
        _installed.append(handler)
    _set_level("", root_level)
    for name in _QUIET_AT_INFO:
        _set_level(name, logging.WARNING)
    _current = options


def reset() -> None:
    """Remove the handlers and levels `configure` set (the end of a command)."""
    global _current
    root = logging.getLogger()
    for handler in _installed:
        root.removeHandler(handler)
        handler.close()
    _installed.clear()
    for name, level in _levels_set.items():
        logging.getLogger(name or None).setLevel(level)
    _levels_set.clear()
    _current = None


def current() -> LogOptions | None:
    """How this process's logging was configured (None: by someone else, or not at all)."""
    return _current


def worker_arguments() -> list[str]:
    """Options for a crawl worker's command line: log as this process does."""
    return _current.worker_arguments() if _current is not None else []


def _own_errors_only(record: logging.LogRecord) -> bool:
    """muni_crawl's errors, and only the critical ones of other libraries."""
    return _is_own(record) or record.levelno >= logging.CRITICAL


class _OwnInfo(logging.Filter):
    """muni_crawl's records at INFO and above; other libraries' from `threshold` up."""

    def __init__(self, threshold: int) -> None:
        super().__init__()
        self.threshold = threshold

    def filter(self, record: logging.LogRecord) -> bool:
        return _is_own(record) or record.levelno >= self.threshold


def _is_own(record: logging.LogRecord) -> bool:
    return record.name == "muni_crawl" or record.name.startswith("muni_crawl.")


def _set_level(name: str, level: int) -> None:
    logger = logging.getLogger(name or None)
    _levels_set.setdefault(name, logger.level)
    logger.setLevel(level)


def _with_path(options: LogOptions, path: Path) -> LogOptions:
    from dataclasses import replace

    return replace(options, log_file=path)


def _formatter(log_format: str, tracebacks: bool, source: str | None) -> logging.Formatter:
    if log_format == "json":
        return JsonFormatter(tracebacks=tracebacks, source=source)
    return TextFormatter(tracebacks=tracebacks)


def _timestamp(record: logging.LogRecord) -> str:
    """Local time with its UTC offset, to the millisecond (ISO 8601)."""
    return datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="milliseconds")


def _exception_line(record: logging.LogRecord) -> str:
    """The exception of a record as one line: its type and message."""
    if not record.exc_info or record.exc_info[1] is None:
        return ""
    exc = record.exc_info[1]
    message = " ".join(str(exc).split())
    return type(exc).__name__ + (f": {message}" if message else "")


class TextFormatter(logging.Formatter):
    """`<time> <LEVEL> <logger>: <message>`; a traceback only when asked for, else one line."""

    def __init__(self, tracebacks: bool) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.tracebacks = tracebacks

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return _timestamp(record)

    def format(self, record: logging.LogRecord) -> str:
        if self.tracebacks:
            return super().format(record)
        record.message = record.getMessage()
        record.asctime = self.formatTime(record)
        line = self.formatMessage(record)
        cause = _exception_line(record)
        if cause and cause not in line:
            line += f" ({cause})"
        return _first_lines(line)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, process (and a crawl worker's
    source); the exception as a traceback when asked for, else as one line."""

    def __init__(self, tracebacks: bool, source: str | None = None) -> None:
        super().__init__()
        self.tracebacks = tracebacks
        self.source = source

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        if self.source is not None:
            data["source"] = self.source
        if record.exc_info and record.exc_info[1] is not None:
            data["exception"] = (
                self.formatException(record.exc_info)
                if self.tracebacks
                else _exception_line(record)
            )
        if not self.tracebacks:
            data["message"] = _first_lines(data["message"])
        return json.dumps(data, ensure_ascii=False, default=str)


def _first_lines(text: str) -> str:
    """A message without an embedded traceback (Twisted writes some into the message)."""
    marker = text.find("\nTraceback (most recent call last):")
    return text if marker < 0 else text[:marker]


class CurrentStderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is when a record comes (click's test runner swaps it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


class SharedRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A RotatingFileHandler that several processes (the CLI and its crawl workers) can share.

    Each record is written under an flock on `<file>.lock`; a file that another process has
    rotated away (a different inode at the path) is reopened first, so no process keeps
    writing into a rotated file and no two rotate at once.
    """

    def __init__(self, path: Path, *, max_bytes: int, backups: int) -> None:
        super().__init__(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
        self._lock_path = str(path) + ".lock"
        self._lock_file: IO[str] | None = None
        self._locked().close()  # fail now (a clear error) if the lock file cannot be made

    def _locked(self) -> IO[str]:
        # reopened after close(): Scrapy's logging set-up closes every handler there is,
        # and a FileHandler reopens its file on the next record too
        if self._lock_file is None or self._lock_file.closed:
            self._lock_file = open(self._lock_path, "a")  # noqa: SIM115 (closed in close())
        return self._lock_file

    def emit(self, record: logging.LogRecord) -> None:
        try:
            lock = self._locked()
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                self._follow_rotation()
                super().emit(record)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        except OSError:
            self.handleError(record)

    def close(self) -> None:
        super().close()
        if self._lock_file is not None:
            self._lock_file.close()

    def _follow_rotation(self) -> None:
        if self.stream is None:
            return
        try:
            current = os.stat(self.baseFilename).st_ino
        except FileNotFoundError:
            current = None
        if current != os.fstat(self.stream.fileno()).st_ino:
            self.stream.close()
            self.stream = self._open()
