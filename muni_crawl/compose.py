"""Composers: an LLM through the openai client (OpenAI, Azure, compatible), and the extractive
default that needs no LLM. Both cite the passages they use by number.

The LLM composer raises LLMError for every provider problem (timeout, 429, 5xx, bad key,
malformed reply) and for every reply the checks of `reply_check` refuse (markup, citations
that do not resolve, no content, ungrounded addresses, the wrong language after one retry);
the Answerer turns that into a degraded answer with the reason, never an exception for the
chatbot. The error carries the tokens of every call made, so refused replies are billed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from muni_crawl.answer_language import introduce
from muni_crawl.config import LLMSettings
from muni_crawl.embed import Embedder
from muni_crawl.errors import LLMError
from muni_crawl.extractive import MAX_SENTENCES, MAX_WORDS, choose
from muni_crawl.prompts import CANNOT_ANSWER, build_messages
from muni_crawl.reply_check import check_reply
from muni_crawl.tokens import count_tokens, encoding_for_model
from muni_crawl.types import AnswerStatus, Citation, Passage, TokenUsage, Vectors

log = logging.getLogger(__name__)

# per-message overhead of the chat format (OpenAI's published counting rule)
TOKENS_PER_MESSAGE = 3
TOKENS_REPLY_PRIMING = 3


@dataclass(frozen=True)
class Composition:
    """A composed answer and what composing it cost."""

    status: AnswerStatus  # generated | extractive | no_answer (approved: the Answerer's)
    text: str
    citations: tuple[Citation, ...]
    passages: tuple[Passage, ...]  # the passages given, numbered from 1
    reason: str | None = None
    spent: TokenUsage = field(default_factory=TokenUsage)
    language: str | None = None  # the text's language when it is not the question's
    unanswerable: bool = False  # the LLM replied that the passages do not answer the question


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

    def __init__(self, settings: LLMSettings, client: Any = None) -> None:
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
        self,
        *,
        question: str,
        language: str,
        municipality: str,
        passages: Sequence[Passage],
        insist_on_language: bool = False,
    ) -> tuple[list[dict[str, str]], tuple[Passage, ...], int]:
        """The messages with as many passages (best first) as the budget holds."""
        budget = self.settings.prompt_token_budget
        given = list(passages)
        while True:
            messages = build_messages(
                municipality=municipality,
                language=language,
                question=question,
                passages=given,
                insist_on_language=insist_on_language,
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
        self,
        *,
        question: str,
        language: str,
        municipality: str,
        passages: Sequence[Passage],
        contact_url: str | None = None,
    ) -> Composition:
        """A checked, generated answer; LLMError (with the tokens spent) when none can be served.

        A reply in another language than the question's gets one retry with a firmer
        instruction; every other refusal is final (asking again invites the same trouble).
        """
        earlier: TokenUsage | None = None
        for insist in (False, True):
            try:
                text, given, spent = self._ask(
                    question=question,
                    language=language,
                    municipality=municipality,
                    passages=passages,
                    insist_on_language=insist,
                )
            except LLMError as exc:
                if earlier is not None:  # the refused first reply is still billed
                    now = exc.spent
                    exc.spent = earlier.plus(now) if isinstance(now, TokenUsage) else earlier
                raise
            if earlier is not None:
                spent = earlier.plus(spent)
            if CANNOT_ANSWER in text:
                reason = "the sources do not answer it (LLM)"
                return Composition(
                    "no_answer", "", (), given, reason=reason, spent=spent, unanswerable=True
                )
            verdict = check_reply(text, given=given, language=language, contact_url=contact_url)
            if verdict.servable:
                notes = ["served after a retry for the language"] if insist else []
                if verdict.stripped:
                    notes.append("removed from the LLM reply: " + ", ".join(verdict.stripped))
                return Composition(
                    "generated",
                    verdict.text,
                    citations_for(verdict.cited, given),
                    given,
                    reason="; ".join(notes) or None,
                    spent=spent,
                )
            kind = verdict.refusal or "refused"
            if kind != "wrong_language" or insist:
                detail = verdict.detail + (" (after a retry for the language)" if insist else "")
                raise LLMError(kind, detail, spent=spent)
            log.info("LLM reply in the wrong language (%s); asking once more", verdict.detail)
            earlier = spent
        raise AssertionError("unreachable: the second attempt returns or raises")

    def _ask(
        self,
        *,
        question: str,
        language: str,
        municipality: str,
        passages: Sequence[Passage],
        insist_on_language: bool,
    ) -> tuple[str, tuple[Passage, ...], TokenUsage]:
        """One call: the reply's text, the passages given, and the tokens spent."""
        import openai

        messages, given, prompt_tokens = self.pack(
            question=question,
            language=language,
            municipality=municipality,
            passages=passages,
            insist_on_language=insist_on_language,
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
        spent = TokenUsage(
            prompt_tokens=prompt_tokens,
            completion_tokens=count_tokens(content, encoding_for_model(self.model)),
            provider_prompt_tokens=getattr(usage, "prompt_tokens", None),
            provider_completion_tokens=getattr(usage, "completion_tokens", None),
            model=self.model,
        )
        return content.strip(), given, spent


def _with_text(passage: Passage, text: str) -> Passage:
    from dataclasses import replace

    return replace(passage, text=text)


class Composer(Protocol):
    """Composes an answer from retrieved passages: the LLM composer and the extractive one."""

    def compose(
        self,
        *,
        question: str,
        language: str,
        municipality: str,
        passages: Sequence[Passage],
        contact_url: str | None = None,
    ) -> Composition:
        """The composition; an LLM composer raises LLMError (with the tokens spent) when it
        has nothing that may be served."""
        ...


class ExtractiveComposer:
    """The sentences of the best passages that answer the question (see muni_crawl.extractive):
    at most MAX_SENTENCES sentences and about MAX_WORDS words, in page order, each run cited.

    `embedder` (the library's) lets meaning count besides words and the question's type; it
    works without one. A question in another language than the sources' gets one sentence in
    front, in its own language, saying that the municipality's text is Danish.
    """

    max_sentences = MAX_SENTENCES
    max_words = MAX_WORDS

    def __init__(self, embedder: Embedder | None = None) -> None:
        self.embedder = embedder

    def compose(
        self,
        *,
        question: str,
        language: str = "da",
        municipality: str = "",
        passages: Sequence[Passage],
        contact_url: str | None = None,
        query: Vectors | None = None,
    ) -> Composition:
        """Sentences of the stored text itself: nothing is generated, nothing is spent.

        `query` is the question's vector from the same embedder, when the caller has it."""
        given = tuple(passages)
        embed = self.embedder.embed_queries if self.embedder is not None else None
        if embed is not None and query is None:
            query = embed([question])[0]
        extract = choose(question, language, given, embed=embed, query=query)
        if extract is None:
            return Composition("no_answer", "", (), given, reason="no passages")
        text = introduce(extract.text, question_language=language, text_language=extract.language)
        return Composition(
            "extractive",
            text,
            citations_for(extract.cited, given),
            given,
            language=extract.language,
        )
