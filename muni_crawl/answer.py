"""Answerer: the chatbot's entry point.

redact -> approved answer? -> retrieve -> evidence gate -> found unanswerable before? ->
compose -> record. The approved answer, the gate and the memory of unanswerable questions
(muni_crawl.unanswerable) each answer before any token is spent.

`answer()` raises only for caller errors (unknown tenant, empty or over-long question). Every
other problem — no index yet, an LLM timeout, a 429, a malformed reply, citations that do not
resolve — degrades to an extractive answer or `no_answer`, with the reason in the result.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Self

from muni_crawl.billing import bill
from muni_crawl.calibration import calibration_for, check_home_calibration
from muni_crawl.compose import Composer, Composition, ExtractiveComposer, LLMComposer
from muni_crawl.errors import IndexNotBuiltError, InvalidQuestionError, LLMError, StoreError
from muni_crawl.evidence import assess, gate_for
from muni_crawl.home import Home, HomeLike
from muni_crawl.language import LANGUAGES, detect_language
from muni_crawl.llm_client import check_environment, provider
from muni_crawl.places import places_for
from muni_crawl.prompts import no_answer_language, no_answer_text
from muni_crawl.question import validate_question
from muni_crawl.redact import redact
from muni_crawl.retrieve import Library, Retrieval, default_library
from muni_crawl.review import find_approved
from muni_crawl.store import AnswerStore, StoredAnswer, utcnow
from muni_crawl.store.answer_log import ANSWER_WRITE_WAIT_SECONDS, answer_record, write_answer
from muni_crawl.types import Answer, Citation, TokenUsage, Vectors
from muni_crawl.unanswerable import evidence_key, find_unanswerable

log = logging.getLogger(__name__)


class Answerer:
    """Reusable answering object for a chatbot process: cheap to create, safe across threads.

    `home` is an opened Home or the path of one (default: the library's home, else
    $MUNI_CRAWL_HOME, else the current directory). `close()` (or a `with` block) closes its
    database connections and drops the loaded indexes.
    """

    def __init__(
        self,
        home: HomeLike = None,
        *,
        library: Library | None = None,
        llm_client: object | None = None,
    ) -> None:
        self.home = library.home if library is not None and home is None else Home.of(home)
        self.library = library or Library(self.home)
        self._answering = self.home.settings.answering
        check_home_calibration(self.home.path)  # a broken calibration.toml fails here, not later
        self._llm_settings = self.home.settings.llm
        self._prices = self.home.settings.prices
        if llm_client is None and self._llm_settings.llm_model:
            check_environment()  # a broken LLM setup fails here, naming the variable, once
        self._llm = (
            LLMComposer(self._llm_settings, client=llm_client)
            if self.llm_configured(llm_client)
            else None
        )
        # words, the question's type and rank choose the sentences; weighing them by meaning
        # too (ExtractiveComposer(embedder)) found no more answers on the evaluation set and
        # costs a query embedding per sentence weighed (docs/answering.md), so it is left out
        self._extractive = ExtractiveComposer()
        self._local = threading.local()
        self._stores: list[AnswerStore] = []
        self._stores_lock = threading.Lock()

    def close(self) -> None:
        """Close every thread's database connection and drop the loaded indexes."""
        with self._stores_lock:
            stores, self._stores = self._stores, []
        for store in stores:
            store.close()
        self._local = threading.local()
        self.library.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def aanswer(self, tenant: str, question: str, *, language: str | None = None) -> Answer:
        """`answer()` in a worker thread, so that a chatbot's event loop never blocks on the
        embedder, the index or the LLM (the library itself is synchronous)."""
        return await asyncio.to_thread(self.answer, tenant, question, language=language)

    def llm_configured(self, client: object | None = None) -> bool:
        return bool(self._llm_settings.llm_model) and (client is not None or provider() is not None)

    def warm_up(self, tenants: list[str] | None = None) -> None:
        self.library.warm_up(tenants)
        detect_language("opvarmning")

    def _store(self) -> AnswerStore:
        """This thread's connection. Its writes wait ANSWER_WRITE_WAIT_SECONDS at most, then
        the record is spooled (answer_log), so a crawl's or review's write never holds up an
        answer; reads never wait on a writer (WAL)."""
        store: AnswerStore | None = getattr(self._local, "store", None)
        if store is None:
            store = AnswerStore(self.home.paths.database, busy_timeout=ANSWER_WRITE_WAIT_SECONDS)
            self._local.store = store
            with self._stores_lock:
                self._stores.append(store)
        return store

    def threshold(self, model_id: str) -> float:
        """The evidence gate's cosine floor for the model (MUNI_CRAWL_MIN_EVIDENCE, else the
        calibrated one); the gate's other signals are in `muni_crawl.evidence`."""
        return gate_for(model_id, self._answering.min_evidence, self.home.path).floor

    def answer(self, tenant: str, question: str, *, language: str | None = None) -> Answer:
        """Answer a citizen's question for one tenant; see the module docstring. `language`
        (ISO 639-1, e.g. the chatbot's UI language) overrides the language detected."""
        municipality = self.library.registry.tenant(tenant)  # UnknownTenantError
        text = validate_question(question, self._answering.max_question_chars)
        _check_language(language)
        redaction = redact(text)
        clean = redaction.text
        search = redaction.search_text or clean
        written_in = detect_language(search)  # once: retrieval and the gate read it too
        language = language or written_in
        vector = self.library.embedder.embed_queries([search])[0]  # once, for both uses
        approved = self._approved(tenant, language, search, vector)
        if approved is not None:
            return approved
        reused = self._reuse_pending(tenant, clean)
        if reused is not None:
            return reused
        try:
            retrieval = self.library.retrieve(
                tenant,
                search,
                k=self._answering.answer_passages,
                query=vector,
                language=written_in,
            )
        except IndexNotBuiltError as exc:
            log.error("%s", exc)
            return self._record(
                tenant,
                clean,
                language,
                self._no_answer(tenant, language, "no index for this tenant yet"),
                None,
            )
        # the evidence gate: several signals, before any token is spent (muni_crawl.evidence)
        refusal: str | None = "no convincing source (nothing retrieved)"
        if retrieval.passages:
            tenants = self.library.registry.tenants.values()
            verdict = assess(
                search,
                retrieval,
                self.library.index(tenant),
                language=written_in,
                gate=gate_for(retrieval.model_id, self._answering.min_evidence, self.home.path),
                embedder=self.library.embedder,
                query=vector,
                places=places_for(municipality.name, tuple(t.name for t in tenants)),
            )
            refusal = None if verdict.passed else verdict.reason
        if refusal is None:  # the same question on the same passages found unanswerable before
            refusal = self._known_unanswerable(tenant, retrieval, vector)
        if refusal is not None:
            no_answer = self._no_answer(tenant, language, refusal)
            return self._record(tenant, clean, language, no_answer, retrieval)
        composition = self._compose(
            municipality.name, clean, language, retrieval, municipality.contact_url, vector
        )
        if composition.status == "generated" and self._was_rejected(tenant, clean, composition):
            fallback = self._extractive.compose(
                question=clean,
                language=language,
                municipality=municipality.name,
                passages=retrieval.passages,
                query=vector,
            )
            composition = replace(
                fallback,
                reason="the LLM repeated an answer the review team rejected; extractive instead",
                spent=composition.spent,
            )
        if composition.status == "no_answer":
            no_answer = self._no_answer(
                tenant, language, composition.reason or "no answer", spent=composition.spent
            )
            composition = replace(no_answer, unanswerable=composition.unanswerable)
        return self._record(tenant, clean, language, composition, retrieval, vector=vector)

    def _paraphrase_similarity(self) -> float | None:
        """The question cosine from which two questions count as the same (approved answers,
        questions found unanswerable): the setting, else the model's calibration, else None
        (never guess)."""
        threshold = self._answering.approved_similarity
        if threshold is None:
            threshold = calibration_for(
                self.library.embedder.model_id, self.home.path
            ).approved_similarity
        return threshold

    def _known_unanswerable(self, tenant: str, retrieval: Retrieval, vector: Vectors) -> str | None:
        """Why the question is refused when a close one was found unanswerable from the same
        passages (muni_crawl.unanswerable); None otherwise."""
        threshold = self._paraphrase_similarity()
        if threshold is None:
            return None
        known = find_unanswerable(
            self._store(),
            tenant=tenant,
            passages=retrieval.passages,
            vector=vector,
            model_id=retrieval.model_id,
            threshold=threshold,
            llm_days=self._answering.remember_unanswerable_days,
        )
        return None if known is None else known.reason()

    def _approved(
        self, tenant: str, language: str, question: str, vector: Vectors
    ) -> Answer | None:
        """An approved answer to a close enough question: served first, at no token cost."""
        store = self._store()
        embedder = self.library.embedder
        threshold = self._paraphrase_similarity()
        if threshold is None:
            return None  # no calibration for this model: never guess
        match = find_approved(
            store,
            tenant=tenant,
            language=language,
            vector=vector,
            model_id=embedder.model_id,
            threshold=threshold,
        )
        if match is None:
            return None
        citations = tuple(Citation(**c) for c in match.citations)
        try:
            text_language = store.text_language(match.answer_id)
        except StoreError as exc:  # then it is in the question's language, as it was matched
            log.warning("%s", exc)
            text_language = None
        composition = Composition(
            "approved",
            match.text,
            citations,
            (),
            reason=f"approved answer {match.answer_id} (similarity {match.similarity:.3f})",
            language=text_language,
        )
        return self._record(tenant, question, language, composition, None, match.answer_id)

    def _reuse_pending(self, tenant: str, question: str) -> Answer | None:
        """The same question again within a short window: reuse the pending answer."""
        since = (
            datetime.now(UTC) - timedelta(seconds=self._answering.reuse_pending_seconds)
        ).isoformat(timespec="milliseconds")
        try:
            row = self._store().recent_pending(tenant, question_hash(question), since)
        except StoreError as exc:  # a reuse is an optimisation: answer afresh instead
            log.warning("%s", exc)
            return None
        if row is None:
            return None
        composition = Composition(
            "generated",
            row.text,
            tuple(Citation(**c) for c in json.loads(row.citations)),
            (),
            reason=f"reused pending answer {row.id} (same question)",
            language=row.language,
        )
        return self._record(tenant, question, row.asked_in, composition, None, row.id)

    def _was_rejected(self, tenant: str, question: str, composition: Composition) -> bool:
        try:
            texts = self._store().rejected_texts(tenant, question_hash(question))
        except StoreError as exc:  # cannot check: serve the extractive answer to be safe
            log.warning("%s", exc)
            return True
        same = " ".join(composition.text.split())
        return any(" ".join(text.split()) == same for text in texts)

    def _compose(
        self,
        municipality: str,
        question: str,
        language: str,
        retrieval: Retrieval,
        contact_url: str,
        query: Vectors | None = None,
    ) -> Composition:
        """The LLM's checked answer, else the extractive one with the reason (and the tokens
        of every refused reply, which are billed). `contact_url` is the tenant's own contact
        page: the one address an answer may give that no cited source need contain. `query`
        is the question's vector, which the extractive composer reuses."""

        def compose(composer: Composer) -> Composition:
            return composer.compose(
                question=question,
                language=language,
                municipality=municipality,
                passages=retrieval.passages,
                contact_url=contact_url,
            )

        def extractive() -> Composition:
            return self._extractive.compose(
                question=question,
                language=language,
                municipality=municipality,
                passages=retrieval.passages,
                contact_url=contact_url,
                query=query,
            )

        if self._llm is None:
            return _with_reason(extractive(), "no LLM configured: extractive answer")
        try:
            return compose(self._llm)
        except LLMError as exc:
            log.warning("LLM failed (%s): %s; degrading to extractive", exc.kind, exc)
            spent = exc.spent if isinstance(exc.spent, TokenUsage) else TokenUsage()
            return replace(
                extractive(),
                reason=f"LLM {exc.kind}: {exc}; extractive answer instead",
                spent=spent,
            )

    def _no_answer(
        self, tenant: str, language: str, reason: str, spent: TokenUsage | None = None
    ) -> Composition:
        info = self.library.registry.tenant(tenant)
        text = no_answer_text(language, info.name, info.contact_url)
        contact = Citation(n=0, url=info.contact_url, title=f"Kontakt {info.name}")
        return Composition(
            "no_answer",
            text,
            (contact,),
            (),
            reason=reason,
            spent=spent or TokenUsage(),
            language=no_answer_language(language),
        )

    def _record(
        self,
        tenant: str,
        question: str,
        language: str,
        composition: Composition,
        retrieval: Retrieval | None,
        source_answer_id: str | None = None,
        *,
        vector: Vectors | None = None,
    ) -> Answer:
        """Record the answer (the billing source, the review queue). `vector` is the
        question's: kept where the LLM found the question unanswerable, to know it again."""
        spent = composition.spent
        charge = bill(
            spent,
            documents=retrieval.documents_searched if retrieval is not None else 0,
            prices=self._prices,
            max_output_tokens=self._llm_settings.llm_max_output_tokens,
            tenant=tenant,
        )
        answer = Answer(
            id=uuid.uuid4().hex,
            tenant=tenant,
            question=question,
            text=composition.text,
            citations=composition.citations,
            # a generated answer is written in the question's language (the reply check saw
            # to it); extractive and fixed texts say which language they are in
            language=composition.language or language,
            question_language=language,
            status=composition.status,
            reason=composition.reason,
            usage=charge.usage,
            created_at=utcnow(),
        )
        review = None
        if source_answer_id is None and (
            composition.status == "generated"
            or (composition.status == "extractive" and self._answering.review_extractive)
        ):
            review = "pending"
        # an LLM's "the sources do not answer it" is kept to be known again (unanswerable.py)
        remembered = retrieval if composition.unanswerable and vector is not None else None
        record = answer_record(
            answer,
            question_hash=question_hash(question),
            passages=composition.passages,
            charge=charge,
            review_status=review,
            source_answer_id=source_answer_id,
            evidence_key=evidence_key(retrieval.passages) if retrieval is not None else None,
            unanswerable="llm" if remembered else None,
            question_vector=StoredAnswer.stored_vector(vector) if remembered else None,
            vector_model=remembered.model_id if remembered else None,
        )
        write_answer(self._store(), record)  # spooled, not lost, while another process writes
        log.info(
            "answer %s for %s: %s, %d+%d tokens, %d documents",
            answer.id,
            tenant,
            answer.status,
            spent.prompt_tokens,
            spent.completion_tokens,
            charge.usage.documents_searched,
        )
        return answer


def question_hash(question: str) -> str:
    """Identity of a (redacted) question, insensitive to case and spacing."""
    return hashlib.sha256(" ".join(question.lower().split()).encode()).hexdigest()


def _check_language(language: str | None) -> None:
    if language is not None and language not in LANGUAGES:
        raise InvalidQuestionError(
            f"language {str(language)[:20]!r} is not supported; use one of {', '.join(LANGUAGES)}"
        )


def _with_reason(composition: Composition, reason: str) -> Composition:
    return replace(composition, reason=reason)


_default: dict[str, Answerer] = {}
_default_lock = threading.Lock()


def answer(
    tenant: str, question: str, *, home: Path | str | None = None, language: str | None = None
) -> Answer:
    """Answer one question (home from MUNI_CRAWL_HOME, or the current directory)."""
    library = default_library(home)
    key = str(library.home.path.resolve())
    with _default_lock:
        if key not in _default:
            _default[key] = Answerer(library=library)
        answerer = _default[key]
    return answerer.answer(tenant, question, language=language)


async def aanswer(
    tenant: str, question: str, *, home: Path | str | None = None, language: str | None = None
) -> Answer:
    """`answer()` for an event loop: the work runs in a worker thread."""
    return await asyncio.to_thread(answer, tenant, question, home=home, language=language)
