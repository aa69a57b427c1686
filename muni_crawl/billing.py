"""Billing: which token counts an answer is billed for, and what it costs in micro-DKK.

Municipalities are billed from these numbers, so a provider's usage report is evidence, not
truth. Its counts are billed only when they are plausible: whole, non-negative numbers within
a factor of two (plus 50 tokens of chat framing) of our own tiktoken count, and for the reply
no more than the output tokens we allowed. Anything else (negative, absurdly large, text, a
fraction, a boolean, missing) is billed at our own count, flagged as a mismatch and described
in an audit note that keeps the provider's raw value. Small honest differences are billed at
the provider's count and flagged, as before.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from muni_crawl.config import PriceSettings
from muni_crawl.types import TokenUsage, Usage

log = logging.getLogger(__name__)

# A provider count is plausible when local / FACTOR - SLACK <= count <= local * FACTOR + SLACK
# (SLACK per LLM call, when a retry made two calls).
PLAUSIBLE_FACTOR = 2
PLAUSIBLE_SLACK = 50
# The reply cannot hold more tokens than max_tokens allowed; a little slack for framing tokens.
OUTPUT_LIMIT_SLACK = 8
_NOTE_VALUE_CHARS = 40


@dataclass(frozen=True)
class Billing:
    """The token counts billed for one answer, the provider counts we accepted, and why not."""

    prompt_tokens: int
    completion_tokens: int
    provider_prompt_tokens: int | None
    provider_completion_tokens: int | None
    mismatch: bool
    note: str | None = None  # why a provider count was not trusted, with its raw value

    def cost_micro_dkk(
        self,
        *,
        documents: int,
        price_input_dkk: float,
        price_output_dkk: float,
        price_per_document_dkk: float,
    ) -> int:
        """Integer micro-DKK (prices are DKK per million tokens, and DKK per document)."""
        return round(
            self.prompt_tokens * price_input_dkk
            + self.completion_tokens * price_output_dkk
            + documents * price_per_document_dkk * 1_000_000
        )


def reconcile(spent: TokenUsage, *, max_output_tokens: int) -> Billing:
    """Decide what to bill for one composition; see the module docstring for the rule."""
    replied = spent.model is not None  # a reply arrived, so the provider owed us its usage
    calls = max(1, int(getattr(spent, "calls", 1)))  # a retried call sums two calls' tokens
    notes: list[str] = []
    prompt = _accept(
        "prompt_tokens",
        spent.provider_prompt_tokens,
        spent.prompt_tokens,
        None,
        calls,
        replied,
        notes,
    )
    completion = _accept(
        "completion_tokens",
        spent.provider_completion_tokens,
        spent.completion_tokens,
        (max_output_tokens + OUTPUT_LIMIT_SLACK) * calls,
        calls,
        replied,
        notes,
    )
    mismatch = bool(notes) or any(
        accepted is not None and accepted != local
        for accepted, local in (
            (prompt, spent.prompt_tokens),
            (completion, spent.completion_tokens),
        )
    )
    note = None
    if notes:
        note = (
            "provider usage not trusted: "
            + "; ".join(notes)
            + f"; billed local counts {spent.prompt_tokens}/{spent.completion_tokens}"
        )
    return Billing(
        prompt_tokens=spent.prompt_tokens if prompt is None else prompt,
        completion_tokens=spent.completion_tokens if completion is None else completion,
        provider_prompt_tokens=prompt,
        provider_completion_tokens=completion,
        mismatch=mismatch,
        note=note,
    )


def _accept(
    name: str,
    raw: object,
    local: int,
    ceiling: int | None,
    calls: int,
    replied: bool,
    notes: list[str],
) -> int | None:
    """The provider's count if it is plausible; otherwise None, with the reason added to notes."""
    if raw is None:
        if replied:
            notes.append(f"{name} missing")
        return None
    count = as_count(raw)
    if count is None:
        notes.append(f"{name}={_shown(raw)} is not a whole non-negative number")
        return None
    low = local / PLAUSIBLE_FACTOR - PLAUSIBLE_SLACK * calls
    high = local * PLAUSIBLE_FACTOR + PLAUSIBLE_SLACK * calls
    if not low <= count <= high:
        notes.append(
            f"{name}={_shown(count)} is implausible next to our count {local}"
            f" (accepted: {max(0, math.ceil(low))}-{high})"
        )
        return None
    if ceiling is not None and count > ceiling:
        notes.append(f"{name}={_shown(count)} exceeds the {ceiling} output tokens allowed")
        return None
    return count


def as_count(raw: object) -> int | None:
    """A token count as the provider's JSON may carry it: an int, or a float with no fraction.

    Booleans, strings, fractions, NaN, infinities, negatives and containers are not counts.
    """
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw if raw >= 0 else None
    if isinstance(raw, float) and math.isfinite(raw) and raw.is_integer() and raw >= 0:
        return int(raw)
    return None


def _shown(raw: object) -> str:
    try:
        text = repr(raw)
    except ValueError:  # an int with more digits than Python will print
        return "<a number too long to print>"
    return text if len(text) <= _NOTE_VALUE_CHARS else text[: _NOTE_VALUE_CHARS - 3] + "..."


@dataclass(frozen=True)
class Bill:
    """One answer's bill: the counts billed (with the audit note) and the Usage it reports."""

    billing: Billing
    usage: Usage
    cost_micro_dkk: int


def bill(
    tokens: TokenUsage,
    *,
    documents: int,
    prices: PriceSettings,
    max_output_tokens: int,
    tenant: str,
) -> Bill:
    """What one answer costs the tenant: tokens reconciled with the provider, and documents."""
    billing = reconcile(tokens, max_output_tokens=max_output_tokens)
    cost_micro = billing.cost_micro_dkk(
        documents=documents,
        price_input_dkk=prices.price_input_dkk,
        price_output_dkk=prices.price_output_dkk,
        price_per_document_dkk=prices.price_per_document_dkk,
    )
    usage = Usage(
        prompt_tokens=tokens.prompt_tokens,
        completion_tokens=tokens.completion_tokens,
        provider_prompt_tokens=billing.provider_prompt_tokens,
        provider_completion_tokens=billing.provider_completion_tokens,
        usage_mismatch=billing.mismatch,
        documents_searched=documents,
        cost_dkk=cost_micro / 1_000_000,
        model=tokens.model,
    )
    if billing.mismatch:
        log.warning(
            "token count mismatch for %s: local %d/%d, billed %d/%d%s",
            tenant,
            tokens.prompt_tokens,
            tokens.completion_tokens,
            billing.prompt_tokens,
            billing.completion_tokens,
            f" ({billing.note})" if billing.note else "",
        )
    return Bill(billing, usage, cost_micro)
