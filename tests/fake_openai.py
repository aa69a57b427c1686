"""A real OpenAI-compatible HTTP server on 127.0.0.1 for tests: the real openai client talks to it.

Tests enqueue chat replies (text and usage) and failure modes; embeddings are computed from a
deterministic hashed bag of words, so similar texts get similar vectors. Every request body is
kept, so tests can check what reached the "provider".
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypedDict, Unpack
from urllib.parse import urlsplit

import numpy as np

EMBED_DIM = 64


@dataclass
class Reply:
    """One queued answer to /v1/chat/completions."""

    content: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int = 12
    status: int = 200
    delay: float = 0.0
    raw: str | None = None  # a malformed body, sent as is


class ReplyOptions(TypedDict, total=False):
    """Reply's fields after `content`, as keyword arguments of FakeOpenAI.enqueue."""

    prompt_tokens: int | None
    completion_tokens: int
    status: int
    delay: float
    raw: str | None


class ReplySpec(ReplyOptions, total=False):
    """A whole reply as keyword arguments: FakeOpenAI.enqueue(**spec)."""

    content: str


@dataclass
class FakeOpenAI:
    url: str = ""
    replies: deque[Reply] = field(default_factory=deque)
    requests: list[dict[str, Any]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None
    # how the "provider" counts a request's prompt tokens when a reply does not say (default:
    # characters / 4); a benchmark sets a tokenizer-based count to reconcile with ours
    count_prompt: Callable[[list[dict[str, str]]], int] | None = None

    def enqueue(self, content: str = "", **options: Unpack[ReplyOptions]) -> None:
        self.replies.append(Reply(content=content, **options))

    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if "/chat/completions" in r["path"]]

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def fake_embedding(text: str) -> list[float]:
    vector = np.zeros(EMBED_DIM, dtype=np.float32)
    for word in re.findall(r"\w+", text.lower()):
        digest = hashlib.sha256(word.encode()).digest()
        vector[digest[0] % EMBED_DIM] += 1.0 if digest[1] % 2 else -1.0
    norm = float(np.linalg.norm(vector)) or 1.0
    return [float(x) for x in vector / norm]


def start_fake_openai() -> FakeOpenAI:
    state = FakeOpenAI()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

        def _send(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            state.requests.append({"path": self.path, "body": body, "headers": dict(self.headers)})
            route = urlsplit(self.path).path  # Azure adds ?api-version=...
            if route.endswith("/embeddings"):
                inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
                data = [
                    {"object": "embedding", "index": i, "embedding": fake_embedding(t)}
                    for i, t in enumerate(inputs)
                ]
                payload = {
                    "object": "list",
                    "data": data,
                    "model": body.get("model"),
                    "usage": {"prompt_tokens": 1, "total_tokens": 1},
                }
                self._send(200, json.dumps(payload).encode())
                return
            if route.endswith("/chat/completions"):
                reply = state.replies.popleft() if state.replies else Reply(status=500)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.raw is not None:
                    self._send(reply.status, reply.raw.encode())
                    return
                if reply.status != 200:
                    error = {"error": {"message": f"fake error {reply.status}", "type": "fake"}}
                    self._send(reply.status, json.dumps(error).encode())
                    return
                prompt_tokens = reply.prompt_tokens
                if prompt_tokens is None and state.count_prompt is not None:
                    prompt_tokens = state.count_prompt(body["messages"])
                if prompt_tokens is None:
                    prompt_tokens = sum(len(m.get("content", "")) for m in body["messages"]) // 4
                payload = {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body.get("model"),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": reply.content},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {
                        "prompt_tokens": prompt_tokens,
                        "completion_tokens": reply.completion_tokens,
                        "total_tokens": prompt_tokens + reply.completion_tokens,
                    },
                }
                self._send(200, json.dumps(payload).encode())
                return
            self._send(404, b'{"error": {"message": "not found"}}')

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.server = server
    state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return state
