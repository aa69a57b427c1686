"""Usage reports for billing: per tenant and period, summed exactly from the answer records.

Costs are stored as integer micro-DKK per answer, so sums are exact; tokens billed are the
provider's counts where it reported them, else our tiktoken counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from muni_crawl.errors import ConfigError
from muni_crawl.reply_check import REFUSAL_KINDS
from muni_crawl.store import AnswerStore, StoredAnswer
from muni_crawl.types import ANSWER_STATUSES

COLUMNS = [
    "tenant",
    "answers",
    *ANSWER_STATUSES,
    "tokens_in",
    "tokens_out",
    "documents_searched",
    "cost_dkk",
    "usage_mismatches",
    "llm_refused",
]


@dataclass(frozen=True)
class Period:
    """[since, until) as ISO strings comparable with stored UTC timestamps; None is open."""

    since: str | None
    until: str | None

    @classmethod
    def parse(cls, since: str | None, until: str | None, month: str | None) -> Period:
        """From --since/--until (inclusive days) or --month; a ConfigError names the flag."""
        if month and (since or until):
            raise ConfigError("use either --month or --since/--until, not both")
        if month:
            try:
                start = datetime.strptime(month, "%Y-%m").date()
            except ValueError as exc:
                raise ConfigError(f"--month must look like 2026-11, not {month!r}") from exc
            return cls(start.isoformat(), _next_day(_last_day_of_month(start)))
        first, last = _day(since, "--since"), _day(until, "--until")
        if first and last and first > last:
            raise ConfigError(f"--since {since} is after --until {until}; the period is empty")
        return cls(first.isoformat() if first else None, _next_day(last) if last else None)


def _day(value: str | None, flag: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ConfigError(f"{flag} must be a date like 2026-11-01, not {value!r}") from exc


def _last_day_of_month(start: date) -> date:
    if start.month == 12:
        return start.replace(day=31)
    return start.replace(month=start.month + 1, day=1) - timedelta(days=1)


def _next_day(day: date) -> str | None:
    """The exclusive end after an inclusive last day; none after the last representable day."""
    return None if day == date.max else (day + timedelta(days=1)).isoformat()


def usage_report(
    store: AnswerStore, *, tenant: str | None = None, period: Period
) -> list[dict[str, object]]:
    """One row per tenant with answers in the period (and a total row when several).

    An LLM reply that arrived but failed a reply check is billed and counted as llm_refused.
    """
    rows = store.usage_by_tenant(
        tenant=tenant, since=period.since, until=period.until, refusal_kinds=REFUSAL_KINDS
    )
    report: list[dict[str, object]] = []
    for row in rows:
        record: dict[str, object] = dict(row)
        record["cost_dkk"] = format_dkk(int(row["cost_micro_dkk"]))
        del record["cost_micro_dkk"]
        report.append(record)
    if len(report) > 1:
        total: dict[str, object] = {"tenant": "TOTAL"}
        for column in COLUMNS[1:]:
            if column == "cost_dkk":
                total[column] = format_dkk(sum(int(r["cost_micro_dkk"]) for r in rows))
            else:
                total[column] = sum(int(r[column]) for r in rows)
        report.append(total)
    return report


def format_dkk(micro: int) -> str:
    """Exact decimal DKK from integer micro-DKK (no float rounding in the bill)."""
    sign = "-" if micro < 0 else ""
    whole, fraction = divmod(abs(micro), 1_000_000)
    return f"{sign}{whole}.{fraction:06d}"


def refused_replies(
    store: AnswerStore, *, tenant: str | None = None, limit: int = 200
) -> list[StoredAnswer]:
    """Answers whose LLM reply was refused by the reply checks, newest first (for review)."""
    return store.refused_replies(refusal_kinds=REFUSAL_KINDS, tenant=tenant, limit=limit)
