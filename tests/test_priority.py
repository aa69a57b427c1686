"""Bulk commands (`crawl`, `index`) yield the CPU to questions: they run at the bulk_nice
priority, which the threads and workers they start inherit; answering keeps its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# runs `muni-crawl <command>` with the work itself replaced by a probe that records the nice
# value of the command's thread and of a thread it starts (as the embedding engine does)
PROBE = textwrap.dedent(
    """
    import json, os, sys, threading
    from click.testing import CliRunner
    import muni_crawl.cli.crawl, muni_crawl.cli.index
    from muni_crawl.cli import cli
    from muni_crawl.refresh import RefreshResult

    seen = {}
    def nice():
        return os.getpriority(os.PRIO_PROCESS, 0)
    def probe(*args, **kwargs):
        seen["command"] = nice()
        thread = threading.Thread(target=lambda: seen.__setitem__("thread", nice()))
        thread.start(); thread.join()
        return RefreshResult([]) if "reindex" in kwargs else []
    muni_crawl.cli.index.build_indexes = probe
    muni_crawl.cli.crawl.refresh = probe
    seen["before"] = nice()
    result = CliRunner().invoke(cli, sys.argv[1:])
    print(json.dumps({"code": result.exit_code, "output": result.output, **seen}))
    """
)


def _run(args: list[str], env: dict[str, str]) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    found: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return found


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="no Unix priorities here")
def test_crawl_and_index_run_at_the_bulk_priority_and_their_threads_inherit_it(
    isolated_home: Path,
) -> None:
    env = dict(os.environ)
    start = os.getpriority(os.PRIO_PROCESS, 0)
    for command in (["index", "--all"], ["crawl", "--all", "--format", "json"]):
        ran = _run(command, env)
        assert "command" in ran, ran  # the work ran (a crawl of nothing then exits non-zero)
        assert ran["before"] == start
        assert ran["command"] == ran["thread"] == max(start, 10), ran  # the default
    lowered = _run(["index", "--all"], {**env, "MUNI_CRAWL_BULK_NICE": "15"})
    assert lowered["command"] == lowered["thread"] == max(start, 15)
    kept = _run(["index", "--all"], {**env, "MUNI_CRAWL_BULK_NICE": "0"})
    assert kept["command"] == kept["thread"] == start  # 0: the caller's priority
    refused = _run(["index", "--all"], {**env, "MUNI_CRAWL_BULK_NICE": "25"})
    assert refused["code"] != 0 and "bulk_nice" in str(refused["output"]).lower()
