"""Composers: an LLM through the openai client (OpenAI, Azure, compatible), and the extractive
default that needs no LLM. Both cite the passages they use by number.

The LLM composer raises LLMError for every provider problem (timeout, 429, 5xx, bad key,
malformed reply, citations that do not resolve); the Answerer turns that into a degraded
answer with the reason, never an exception for the chatbot.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from muni_crawl.config import Settings
from muni_crawl.errors import LLMError
from muni_crawl.lexical import analyse
from muni_crawl.prompts import CANNOT_ANSWER, build_messages
from muni_crawl.tokens import count_tokens, encoding_for_model
from muni_crawl.types import Citation, Passage

log = logging.getLogger(__name__)

_CITATION = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-ZÆØÅ0-9\"'(])")
_ABBREVIATIONS = ("kl.", "ca.", "f.eks.", "nr.", "tlf.", "jf.", "bl.a.", "evt.", "inkl.", "max.")


def split_sentences(text: str) -> list[str]:
    """Sentences of Danish text; no split after "kl.", "f.eks." and other abbreviations."""
    sentences: list[str] = []
    for piece in _SENTENCE_END.split(text):
        if sentences and sentences[-1].lower().endswith(_ABBREVIATIONS):
            sentences[-1] += " " + piece
        else:
            sentences.append(piece)
    return [s.strip() for s in sentences if s.strip()]


_EMPHASIS = re.compile(r"\*\*|__|(?<!\w)\*(?=\w)|(?<=\w)\*(?!\w)")
# per-message overhead of the chat format (OpenAI's published counting rule)
TOKENS_PER_MESSAGE = 3
TOKENS_REPLY_PRIMING = 3


@dataclass(frozen=True)
class Spent:
    """Tokens of one LLM call: counted locally (tiktoken) and as the provider reported them."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    provider_prompt_tokens: int | None = None
    provider_completion_tokens: int | None = None
    model: str | None = None


@dataclass(frozen=True)
class Composition:
    """A composed answer and what composing it cost."""

    status: str  # generated | extractive | no_answer
    text: str
    citations: tuple[Citation, ...]
    passages: tuple[Passage, ...]  # the passages given, numbered from 1
    reason: str | None = None
    spent: Spent = Spent()


def cited_numbers(text: str) -> list[int]:
    """Every [n] (also [1, 2]) in a reply, in order of first appearance."""
    numbers: list[int] = []
    for group in _CITATION.findall(text):
        for part in re.split(r"[,;]", group):
            n = int(part.strip())
            if n not in numbers:
                numbers.append(n)
    return numbers


def citations_for(numbers: Sequence[int], passages: Sequence[Passage]) -> tuple[Citation, ...]:
    return tuple(
        Citation(
            n=n,
            url=passages[n - 1].url,
            title=passages[n - 1].title,
            page_id=passages[n - 1].page_id,
            page_version=passages[n - 1].page_version,
        )
        for n in numbers
    )


def count_chat_tokens(messages: Sequence[dict[str, str]], model: str | None) -> int:
    encoding = encoding_for_model(model)
    total = TOKENS_REPLY_PRIMING
    for message in messages:
        total += TOKENS_PER_MESSAGE
        total += sum(count_tokens(value, encoding) for value in message.values())
    return total


class LLMComposer:
    """Grounded answers from a chat model, passages packed to the prompt token budget."""

    def __init__(self, settings: Settings, client: Any = None) -> None:
        self.settings = settings
        self.model = settings.llm_model
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            from muni_crawl.llm_client import make_client

            self._client = make_client(
                timeout=self.settings.llm_timeout, max_retries=self.settings.llm_retries
            )
        return self._client

    def pack(
        self, *, question: str, language: str, municipality: str, passages: Sequence[Passage]
    ) -> tuple[list[dict[str, str]], tuple[Passage, ...], int]:
        """The messages with as many passages (best first) as the budget holds."""
        budget = self.settings.prompt_token_budget
        given = list(passages)
        while True:
            messages = build_messages(
                municipality=municipality, language=language, question=question, passages=given
            )
            tokens = count_chat_tokens(messages, self.model)
            if tokens <= budget or not given:
                return messages, tuple(given), tokens
            if len(given) > 1:
                given.pop()
                continue
            # one passage alone is too long: keep its beginning
            encoding = encoding_for_model(self.model)
            ids = encoding.encode(given[0].text, disallowed_special=())
            keep = max(0, len(ids) - (tokens - budget) - 8)
            if keep == 0:
                return messages, tuple(given), tokens
            given[0] = _with_text(given[0], encoding.decode(ids[:keep]))

    def compose(
        self, *, question: str, language: str, municipality: str, passages: Sequence[Passage]
    ) -> Composition:
        import openai

        messages, given, prompt_tokens = self.pack(
            question=question, language=language, municipality=municipality, passages=passages
        )
        try:
            response = self.client.chat.completions.create(
                model=self.model,
                messages=messages,
                max_tokens=self.settings.llm_max_output_tokens,
                temperature=0,
            )
        except openai.APITimeoutError as exc:
            raise LLMError(
                "timeout", f"the LLM did not answer in {self.settings.llm_timeout} s"
            ) from exc
        except openai.RateLimitError as exc:
            raise LLMError("rate_limited", "the LLM provider is rate limiting (429)") from exc
        except openai.AuthenticationError as exc:
            raise LLMError("auth", "the LLM provider refused the API key (401)") from exc
        except openai.APIStatusError as exc:
            raise LLMError(
                "provider_error", f"the LLM provider failed ({exc.status_code})"
            ) from exc
        except openai.APIConnectionError as exc:
            raise LLMError("unreachable", "the LLM provider could not be reached") from exc
        except (openai.OpenAIError, ValueError) as exc:
            raise LLMError("malformed", f"the LLM reply could not be read: {exc}") from exc
        try:
            content = response.choices[0].message.content
        except (AttributeError, IndexError, TypeError) as exc:
            raise LLMError("malformed", "the LLM reply has no message") from exc
        if not isinstance(content, str) or not content.strip():
            raise LLMError("malformed", "the LLM reply is empty")
        usage = getattr(response, "usage", None)
        spent = Spent(
            prompt_tokens=prompt_tokens,
            completion_tokens=count_tokens(content, encoding_for_model(self.model)),
            provider_prompt_tokens=getattr(usage, "prompt_tokens", None),
            provider_completion_tokens=getattr(usage, "completion_tokens", None),
            model=self.model,
        )
        text = content.strip()
        if CANNOT_ANSWER in text:
            return Composition(
                "no_answer", "", (), given, reason="the sources do not answer it (LLM)", spent=spent
            )
        numbers = cited_numbers(text)
        if not numbers:
            raise LLMError("uncited", "the LLM answer cites no source", spent=spent)
        unresolved = [n for n in numbers if not 1 <= n <= len(given)]
        if unresolved:
            raise LLMError(
                "bad_citations",
                f"the LLM cited sources that were not given: {unresolved}",
                spent=spent,
            )
        return Composition("generated", text, citations_for(numbers, given), given, spent=spent)


def _with_text(passage: Passage, text: str) -> Passage:
    from dataclasses import replace

    return replace(passage, text=text)


class ExtractiveComposer:
    """The best passage, trimmed to the sentences that share words with the question."""

    def __init__(self, max_sentences: int = 3) -> None:
        self.max_sentences = max_sentences

    def compose(self, *, question: str, passages: Sequence[Passage]) -> Composition:
        if not passages:
            return Composition("no_answer", "", (), (), reason="no passages")
        best = passages[0]
        plain = _EMPHASIS.sub("", best.text)
        sentences = [
            s.strip()
            for line in plain.splitlines()
            if line.strip() and not line.lstrip().startswith("#")
            for s in split_sentences(line.strip().lstrip("-* ").strip())
        ]
        terms = set(analyse(question))
        scored = [(len(terms & set(analyse(s))), i) for i, s in enumerate(sentences)]
        chosen = sorted(
            i
            for score, i in sorted(scored, key=lambda x: (-x[0], x[1]))[: self.max_sentences]
            if score > 0
        )
        if not chosen:  # no shared words (another language): the passage's opening
            chosen = list(range(min(self.max_sentences, len(sentences))))
        text = " ".join(sentences[i] for i in chosen) + " [1]"
        return Composition("extractive", text, citations_for([1], [best]), (best,))
