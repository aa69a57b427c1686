"""`muni-crawl serve` end to end: a real HTTP client against a real uvicorn server on 127.0.0.1.

One server (in a thread, over a copy of the indexed example home, with a keys file) serves
most tests of this module: answers, search, keys and scopes, limits, the JSON error body,
readiness, metrics, the OpenAPI document, the access log and hot reload of an index built by
another process. One test starts the real `muni-crawl serve` command with two worker
processes. The async Python API is tested from an event loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
import uvicorn
from click.testing import CliRunner

import muni_crawl
from muni_crawl import Answer, Answerer, Library, Settings
from muni_crawl.cli import cli
from muni_crawl.index import current_version
from muni_crawl.serve.app import create_app
from muni_crawl.serve.options import ServeOptions
from tests.conftest import REPO

STORSKRALD = "Hvornår henter I storskrald?"
FULL_KEY = "full-access-key-0123456789abcdef"
NABOBY_KEY = "naboby-only-key-0123456789abcdef"
KEYS_FILE = f"""# the chatbot platform: every tenant
{FULL_KEY}
{NABOBY_KEY} = naboby   # one municipality's own integration
"""


@dataclass
class Served:
    """A running server: its address, home and app state (metrics, library)."""

    url: str
    home: Path
    server: Any  # muni_crawl.serve.app.Server

    def client(self, key: str | None = FULL_KEY) -> httpx2.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx2.Client(base_url=self.url, headers=headers, timeout=30)


def _clean_environment(monkeypatch: pytest.MonkeyPatch, home: Path, cache: Path) -> None:
    for name in list(os.environ):
        if name.startswith("MUNI_CRAWL_"):
            monkeypatch.delenv(name)
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AZURE_OPENAI_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MUNI_CRAWL_HOME", str(home))
    monkeypatch.setenv("MUNI_CRAWL_EMBEDDING_CACHE", str(cache))


def _wait_ready(url: str, deadline_s: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + deadline_s
    last = ""
    while time.monotonic() < deadline:
        try:
            response = httpx2.get(url + "/readyz", timeout=5)
        except httpx2.TransportError as exc:
            last = str(exc)
        else:
            if response.status_code == 200:
                body: dict[str, Any] = response.json()
                return body
            last = response.text
        time.sleep(0.1)
    raise AssertionError(f"not ready after {deadline_s} s: {last}")


@pytest.fixture(scope="module")
def served(
    example_home: Path, shared_embedding_cache: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """One server for the module: uvicorn in a thread on a free port of 127.0.0.1."""
    home = tmp_path_factory.mktemp("served") / "home"
    shutil.copytree(example_home, home)
    keys = home.parent / "keys.txt"
    keys.write_text(KEYS_FILE, encoding="utf-8")
    with pytest.MonkeyPatch.context() as monkeypatch:
        _clean_environment(monkeypatch, home, shared_embedding_cache)
        app = create_app(ServeOptions(home=home, keys_file=keys, threads=4))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url)
        yield Served(url, home, app.state.server)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
    assert not thread.is_alive(), "the server did not stop"


def _error(response: httpx2.Response, status: int, kind: str) -> str:
    """The message of a JSON error response of `status` and error `kind`."""
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) >= {"error"} and body["error"]["type"] == kind, body
    message: str = body["error"]["message"]
    assert message
    return message


def _metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text, 0 when absent."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#") or " " not in line:
            continue
        sample, value = line.rsplit(" ", 1)
        metric, _, label_text = sample.partition("{")
        found = ",".join(sorted(label_text.rstrip("}").split(","))) if label_text else ""
        if metric == name and found == wanted:
            return float(value)
    return 0.0


# -- answers and search -----------------------------------------------------------------------


def test_an_answer_is_the_answer_the_python_api_returns(served: Served) -> None:
    with served.client() as client:
        response = client.post("/v1/tenants/example/answers", json={"question": STORSKRALD})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["status"] == "extractive" and "tirsdag" in body["text"]
    assert body["citations"][0]["url"].endswith("/affald/storskrald.html")
    assert body["tenant"] == "example" and body["usage"]["documents_searched"] > 30
    local = Answerer(served.home).answer("example", STORSKRALD)
    assert body.keys() == local.to_dict().keys()
    assert body["text"] == local.text and body["citations"] == local.to_dict()["citations"]


def test_the_answer_language_can_be_given_and_is_checked(served: Served) -> None:
    with served.client() as client:
        english = client.post(
            "/v1/tenants/example/answers", json={"question": STORSKRALD, "language": "en"}
        )
        unknown = client.post(
            "/v1/tenants/example/answers", json={"question": STORSKRALD, "language": "xx"}
        )
        not_text = client.post(
            "/v1/tenants/example/answers", json={"question": STORSKRALD, "language": 7}
        )
    assert english.status_code == 200 and english.json()["status"] == "extractive"
    assert "'xx' is not supported" in _error(unknown, 422, "InvalidQuestionError")
    assert "language" in _error(not_text, 422, "InvalidRequestError")


def test_search_returns_the_passages(served: Served) -> None:
    with served.client() as client:
        response = client.get(
            "/v1/tenants/example/search", params={"q": "Hvornår hentes juletræer?", "k": 3}
        )
        default_k = client.get("/v1/tenants/naboby/search", params={"q": STORSKRALD})
        no_q = client.get("/v1/tenants/example/search")
        bad_k = client.get("/v1/tenants/example/search", params={"q": STORSKRALD, "k": 0})
    body = response.json()
    assert response.status_code == 200 and len(body["passages"]) == 3
    assert any(p["url"].endswith("affaldskalender-2026.pdf") for p in body["passages"])
    assert body["index_version"] == current_version(served.home / "indexes", "example")
    assert body["documents_searched"] > 30 and body["tenant"] == "example"
    assert len(default_k.json()["passages"]) == 5
    assert "q" in _error(no_q, 422, "InvalidRequestError")
    assert "k must be" in _error(bad_k, 422, "InvalidRequestError")


# -- keys ---------------------------------------------------------------------------------------


def test_no_key_or_an_unknown_key_is_401_and_a_tenant_outside_the_scope_403(
    served: Served,
) -> None:
    question = {"question": STORSKRALD}
    with served.client(key=None) as anonymous:
        missing = anonymous.post("/v1/tenants/example/answers", json=question)
        basic = anonymous.post(
            "/v1/tenants/example/answers", json=question, headers={"Authorization": "Basic eA=="}
        )
    with served.client("unknown-key-0123456789abcdef") as stranger:
        unknown = stranger.get("/v1/tenants/example/search", params={"q": STORSKRALD})
    with served.client(NABOBY_KEY) as naboby:
        outside = naboby.post("/v1/tenants/example/answers", json=question)
        outside_unknown = naboby.post("/v1/tenants/atlantis/answers", json=question)
        inside = naboby.post("/v1/tenants/naboby/answers", json=question)
    assert "Bearer" in _error(missing, 401, "AuthenticationError")
    assert missing.headers["www-authenticate"] == "Bearer"
    _error(basic, 401, "AuthenticationError")
    assert _error(unknown, 401, "AuthenticationError") == "unknown API key"
    assert "'example'" in _error(outside, 403, "PermissionDeniedError")
    _error(outside_unknown, 403, "PermissionDeniedError")  # a scoped key learns no tenant list
    assert inside.status_code == 200 and inside.json()["tenant"] == "naboby"
    for response in (missing, basic, unknown, outside):
        assert FULL_KEY not in response.text and NABOBY_KEY not in response.text


def test_refuses_to_start_without_keys_on_an_open_address(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    refused = runner.invoke(cli, ["serve", "--host", "0.0.0.0", "--port", "8799"])
    assert refused.exit_code == 1
    assert "no API keys are configured" in refused.output and "0.0.0.0" in refused.output
    monkeypatch.setenv("MUNI_CRAWL_API_KEYS", "short-secret")
    weak = runner.invoke(cli, ["serve", "--host", "0.0.0.0"])
    assert weak.exit_code == 1 and "MUNI_CRAWL_API_KEYS entry 1" in weak.output
    assert "at least 16 characters" in weak.output and "short-secret" not in weak.output
    monkeypatch.setenv("MUNI_CRAWL_API_KEYS", f"{FULL_KEY}=example|atlantis")
    scoped = runner.invoke(cli, ["serve"])
    assert scoped.exit_code == 1 and "unknown tenant 'atlantis'" in scoped.output
    assert FULL_KEY not in scoped.output
    monkeypatch.delenv("MUNI_CRAWL_API_KEYS")
    keys = tmp_path / "keys.txt"
    keys.write_text(f"# keys\n{FULL_KEY}\n{FULL_KEY}=naboby\n", encoding="utf-8")
    twice = runner.invoke(cli, ["serve", "--keys-file", str(keys)])
    assert twice.exit_code == 1 and f"{keys} line 3: the same key as" in twice.output
    (home / "muni-crawl.toml").write_text(f'api_keys = "{FULL_KEY}"\n', encoding="utf-8")
    in_file = runner.invoke(cli, ["serve"])
    assert in_file.exit_code == 1 and "MUNI_CRAWL_API_KEYS" in in_file.output
    assert "environment only" in in_file.output and FULL_KEY not in in_file.output


def test_the_keys_setting_never_leaves_the_process(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crawl worker gets the settings as JSON on its command line (visible in `ps`), and
    settings may be logged: neither carries the keys."""
    monkeypatch.setenv("MUNI_CRAWL_API_KEYS", FULL_KEY)
    settings = Settings.load(isolated_home)
    assert settings.serve.api_keys == FULL_KEY
    assert FULL_KEY not in settings.to_json() and FULL_KEY not in repr(settings)
    assert FULL_KEY not in repr(settings.serve)


# -- limits and errors --------------------------------------------------------------------------


def test_every_failure_is_a_json_error_with_the_library_type(served: Served) -> None:
    answers = "/v1/tenants/example/answers"
    with served.client() as client:
        unknown_tenant = client.post("/v1/tenants/atlantis/answers", json={"question": "Hej?"})
        no_route = client.get("/v1/nothing")
        wrong_method = client.get(answers)
        not_json = client.post(answers, content=b"{question: hej")
        empty = client.post(answers, content=b"")
        a_list = client.post(answers, json=["Hvornår?"])
        no_question = client.post(answers, json={"spørgsmål": "Hvornår?"})
        number = client.post(answers, json={"question": 42})
        long_question = client.post(answers, json={"question": "storskrald " * 100})
        huge = client.post(answers, json={"question": "x" * 20_000})

        def chunks() -> Iterator[bytes]:
            yield b'{"question": "'
            for _ in range(40):
                yield b"y" * 1024
            yield b'"}'

        streamed = client.post(answers, content=chunks())  # no Content-Length: chunked
    assert "atlantis" in _error(unknown_tenant, 404, "UnknownTenantError")
    assert "/v1/nothing" in _error(no_route, 404, "NotFoundError")
    _error(wrong_method, 405, "MethodNotAllowedError")
    assert "not valid JSON" in _error(not_json, 400, "InvalidRequestError")
    assert "empty" in _error(empty, 400, "InvalidRequestError")
    assert "JSON object" in _error(a_list, 422, "InvalidRequestError")
    assert "'spørgsmål'" in _error(no_question, 422, "InvalidRequestError")
    assert "must be text" in _error(number, 422, "InvalidQuestionError")
    assert "the limit is 1000" in _error(long_question, 422, "InvalidQuestionError")
    assert "limit is 16384" in _error(huge, 413, "RequestTooLargeError")
    assert "16384" in _error(streamed, 413, "RequestTooLargeError")


def test_a_tenant_without_an_index_is_503_for_search(served: Served) -> None:
    """`odense` is declared in spiders/tenants.toml but not indexed in the example: search says
    so (503, retry later); an answer degrades to no_answer, as the library's answer() does."""
    with served.client() as client:
        search = client.get("/v1/tenants/odense/search", params={"q": STORSKRALD})
        answer = client.post("/v1/tenants/odense/answers", json={"question": STORSKRALD})
    assert "no index built yet" in _error(search, 503, "IndexNotBuiltError")
    assert search.headers["retry-after"]
    assert answer.status_code == 200 and answer.json()["status"] == "no_answer"


# -- operations -------------------------------------------------------------------------------


def test_healthz_readyz_and_openapi(served: Served) -> None:
    with served.client(key=None) as client:
        health = client.get("/healthz")
        ready = client.get("/readyz")
        schema = client.get("/openapi.json").json()
    with served.client() as client:
        answer = client.post("/v1/tenants/example/answers", json={"question": STORSKRALD}).json()
        retrieval = client.get("/v1/tenants/example/search", params={"q": STORSKRALD}).json()
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    assert ready.status_code == 200, ready.text
    indexes = served.home / "indexes"
    assert ready.json()["indexes"] == {
        t: current_version(indexes, t) for t in ("example", "naboby")
    }
    assert schema["openapi"].startswith("3.")
    assert {"/v1/tenants/{tenant}/answers", "/v1/tenants/{tenant}/search"} <= set(schema["paths"])
    components = schema["components"]["schemas"]
    assert set(components["Answer"]["properties"]) == set(answer)
    assert set(components["Usage"]["properties"]) == set(answer["usage"])
    assert set(components["Retrieval"]["properties"]) == set(retrieval)
    assert set(components["Passage"]["properties"]) == set(retrieval["passages"][0])
    assert components["Answer"]["properties"]["status"]["enum"] == [
        "approved",
        "generated",
        "extractive",
        "no_answer",
    ]


def test_readyz_names_what_is_not_ready(served: Served) -> None:
    """An index that is on disk but not in memory (here: dropped) makes /readyz 503 naming the
    tenant, and is loaded in the background, so the server becomes ready again by itself."""
    served.server.library.close()
    with served.client(key=None) as client:
        response = client.get("/readyz")
    message = _error(response, 503, "NotReadyError")
    assert "example: index" in message and "naboby: index" in message
    assert any("not loaded" in p for p in response.json()["not_ready"])
    assert set(_wait_ready(served.url)["indexes"]) == {"example", "naboby"}


def test_metrics_count_answers_tokens_documents_and_requests(served: Served) -> None:
    with served.client(key=None) as anonymous:
        before = anonymous.get("/metrics").text
        anonymous.post("/v1/tenants/example/answers", json={"question": STORSKRALD})  # 401
    with served.client() as client:
        answer = client.post(
            "/v1/tenants/example/answers", json={"question": "Hvad koster et pas til et barn?"}
        ).json()
        client.get("/v1/tenants/naboby/search", params={"q": STORSKRALD})
    with served.client(key=None) as anonymous:
        response = anonymous.get("/metrics")
    after = response.text
    assert response.headers["content-type"].startswith("text/plain")

    def grew(name: str, **labels: str) -> float:
        return _metric(after, name, **labels) - _metric(before, name, **labels)

    assert grew("muni_crawl_answers_total", tenant="example", status=answer["status"]) == 1
    assert grew("muni_crawl_answer_seconds_count", tenant="example") == 1
    assert grew("muni_crawl_answer_seconds_bucket", tenant="example", le="+Inf") == 1
    documents = answer["usage"]["documents_searched"]
    assert grew("muni_crawl_documents_searched_total", tenant="example") == documents > 0
    assert _metric(after, "muni_crawl_tokens_total", tenant="example", kind="prompt") == 0
    assert grew("muni_crawl_searches_total", tenant="naboby") == 1
    route = "/v1/tenants/{tenant}/answers"
    assert grew("muni_crawl_http_requests_total", route=route, method="POST", status="401") == 1
    assert grew("muni_crawl_http_requests_total", route=route, method="POST", status="200") == 1


def test_the_access_log_has_no_question_and_no_key(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    secret_question = "Mit CPR-nummer er 010190-1234, hvornår henter I storskrald?"
    with served.client() as client:
        client.post("/v1/tenants/example/answers", json={"question": secret_question})
        client.get("/v1/tenants/example/search", params={"q": "hemmelig juletræsafhentning"})
    access = [r.getMessage() for r in caplog.records if r.name == "muni_crawl.serve.access"]
    assert any(line.startswith("POST /v1/tenants/example/answers 200 ") for line in access)
    assert any(line.startswith("GET /v1/tenants/example/search 200 ") for line in access)
    # the server's records: not the test client's (httpx2), nor uvicorn's access log, which
    # `muni-crawl serve` turns off (pytest's log capture gives it a handler here; the real
    # command is checked in test_the_serve_command_with_two_workers_adds_up_their_metrics)
    client_side = ("httpx2", "httpcore2", "uvicorn.access")
    everything = "\n".join(r.getMessage() for r in caplog.records if r.name not in client_side)
    for secret in ("010190-1234", "hemmelig", "juletræsafhentning", FULL_KEY, "storskrald"):
        assert secret not in everything


def test_a_new_index_version_from_another_process_is_served_without_a_restart(
    served: Served, shared_embedding_cache: Path
) -> None:
    indexes = served.home / "indexes"
    old = current_version(indexes, "example")
    with served.client() as client:
        first = client.get("/v1/tenants/example/search", params={"q": STORSKRALD}).json()
        assert first["index_version"] == old
        env = {k: v for k, v in os.environ.items() if not k.startswith("MUNI_CRAWL_")}
        env.update(
            MUNI_CRAWL_HOME=str(served.home), MUNI_CRAWL_EMBEDDING_CACHE=str(shared_embedding_cache)
        )
        built = subprocess.run(
            [sys.executable, "-m", "muni_crawl", "-q", "index", "example", "--force"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            cwd=REPO,
        )
        assert built.returncode == 0, built.stderr
        new = current_version(indexes, "example")
        assert new is not None and new != old
        second = client.get("/v1/tenants/example/search", params={"q": STORSKRALD}).json()
        answered = client.post("/v1/tenants/example/answers", json={"question": STORSKRALD})
    assert second["index_version"] == new
    assert answered.status_code == 200 and answered.json()["status"] == "extractive"
    assert _wait_ready(served.url)["indexes"]["example"] == new


# -- the async Python API ---------------------------------------------------------------------


def test_the_async_api_answers_concurrently_without_blocking_the_loop(home: Path) -> None:
    questions = [STORSKRALD, "Hvad koster et pas til et barn?", "Hvornår hentes juletræer?"]

    async def main() -> tuple[list[Answer], list[Answer], bool, list[str]]:
        with Answerer(home) as answerer:
            pending = asyncio.create_task(answerer.aanswer("example", questions[0]))
            await asyncio.sleep(0)
            still_running = not pending.done()  # the answer runs in a thread, not on the loop
            answers = await asyncio.gather(
                pending, *(answerer.aanswer("example", q) for q in questions * 2)
            )
            found = await answerer.library.aretrieve("naboby", STORSKRALD, k=2)
        module_level = await asyncio.gather(
            *(muni_crawl.aanswer("naboby", q, home=home) for q in questions)
        )
        return list(answers), list(module_level), still_running, [p.id for p in found.passages]

    answers, module_level, still_running, passage_ids = asyncio.run(main())
    assert still_running
    assert len(answers) == 7 and all(a.status == "extractive" for a in answers)
    by_question = {a.question: a.text for a in answers}
    assert len(by_question) == 3  # the same question got the same answer each time
    assert [a.tenant for a in module_level] == ["naboby"] * 3
    assert len(passage_ids) == 2
    with Library(home) as library:
        assert [p.id for p in library.retrieve("naboby", STORSKRALD, k=2).passages] == passage_ids


# -- the real command with worker processes ---------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_the_serve_command_with_two_workers_adds_up_their_metrics(
    home: Path, shared_embedding_cache: Path
) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MUNI_CRAWL_", "OPENAI_"))}
    env.update(
        MUNI_CRAWL_HOME=str(home),
        MUNI_CRAWL_EMBEDDING_CACHE=str(shared_embedding_cache),
        MUNI_CRAWL_API_KEYS=f"{FULL_KEY},{NABOBY_KEY}=naboby",
    )
    command = [sys.executable, "-m", "muni_crawl", "-v", "serve", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--workers", "2", "--threads", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, deadline_s=120)
        headers = {"Authorization": f"Bearer {FULL_KEY}"}
        for n in range(6):  # a new connection each: the kernel spreads them over the workers
            response = httpx2.post(
                f"{url}/v1/tenants/example/answers",
                json={"question": f"{STORSKRALD} ({n})"},
                headers=headers,
                timeout=30,
            )
            assert response.status_code == 200, response.text
        searched = httpx2.get(
            f"{url}/v1/tenants/example/search",
            params={"q": "hemmelig juletræsafhentning"},
            headers=headers,
            timeout=30,
        )
        assert searched.status_code == 200, searched.text
        scrapes = [httpx2.get(f"{url}/metrics", timeout=10).text for _ in range(4)]
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    for text in scrapes:  # whichever worker answered the scrape, it counts every worker's answers
        assert _metric(text, "muni_crawl_answers_total", tenant="example", status="extractive") == 6
    assert f"on http://127.0.0.1:{port} (2 worker(s) x 2 thread(s); 2 API key(s))" in err
    assert "POST /v1/tenants/example/answers 200" in err  # the access log, with -v
    assert "GET /v1/tenants/example/search 200" in err
    for secret in (STORSKRALD, "hemmelig", "juletr", FULL_KEY, NABOBY_KEY):
        assert secret not in err
    assert "shutdown failed" not in err.lower() and "Traceback" not in err
    assert json.dumps(STORSKRALD) not in out
