"""`muni-crawl review`: the central team's queue of generated answers."""

from __future__ import annotations

import csv
import getpass
import json
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from muni_crawl.cli.common import CliContext, emit, limit_option, pass_home, printable
from muni_crawl.config import IndexSettings
from muni_crawl.embed import embedder_for
from muni_crawl.errors import ReviewError
from muni_crawl.redact import redact
from muni_crawl.review import (
    REVIEW_STATUSES,
    SCOPES,
    actions,
    approve,
    cited_passage_diffs,
    export_approved,
    forget,
    get_answer,
    list_answers,
    reject,
    shown_answer,
    shown_question,
    unanswerable,
)
from muni_crawl.store import Store
from muni_crawl.usage import refused_replies

F = TypeVar("F", bound=Callable[..., Any])


def _reviewer_option() -> Callable[[F], F]:
    return click.option(
        "--reviewer",
        default=lambda: os.environ.get("USER") or getpass.getuser(),
        show_default="the OS user",
        help="Who is acting (recorded in the audit trail).",
    )


@click.group()
def review() -> None:
    """Review generated answers: list, show, approve (optionally edited), reject, export;
    list and forget questions remembered as unanswerable."""


@review.command("list")
@click.option("--tenant", help="Only this tenant.")
@click.option("--status", type=click.Choice(REVIEW_STATUSES), help="Only this review status.")
@limit_option(200, "answers, newest first")
@click.option(
    "--refused",
    is_flag=True,
    help="Instead list answers whose LLM reply the reply checks refused, with the reason.",
)
@click.option(
    "--unanswerable",
    "remembered",
    is_flag=True,
    help="Instead list questions remembered as unanswerable (by the LLM or a reviewer),"
    " which are refused at 0 tokens when asked again on the same passages.",
)
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
@pass_home
def list_(
    ctx: CliContext,
    tenant: str | None,
    status: str | None,
    limit: int,
    refused: bool,
    remembered: bool,
    as_json: bool,
) -> None:
    """List answers under review, newest first; questions are shown redacted.

    Example: muni-crawl review list --status pending --tenant aarhus
    """
    if refused and remembered:
        raise click.UsageError("give --refused or --unanswerable, not both")
    with ctx.home.store() as store:
        if remembered:
            rows = _unanswerable_rows(store, tenant, limit)
            columns = ["id", "tenant", "judged_by", "created_at", "language", "question"]
        elif refused:
            rows = _refused_rows(store, tenant, limit)
            columns = ["id", "tenant", "status", "created_at", "language", "question", "reason"]
        else:
            rows = _review_rows(store, tenant, status, limit)
            columns = ["id", "tenant", "status", "created_at", "language", "question", "answer"]
    emit(rows, columns, "json" if as_json else "table")


def _review_rows(
    store: Store, tenant: str | None, status: str | None, limit: int
) -> list[dict[str, object]]:
    """Answers under review: their status and the start of the text served."""
    return [
        {
            "id": r.id,
            "tenant": r.tenant,
            "status": r.review_status,
            "created_at": r.created_at,
            "language": r.language,
            "question": shown_question(r.question),
            "answer": " ".join(shown_answer(r.served_text).split())[:80],
        }
        for r in list_answers(store, tenant=tenant, status=status, limit=limit)
    ]


def _unanswerable_rows(store: Store, tenant: str | None, limit: int) -> list[dict[str, object]]:
    """Questions remembered as unanswerable: who judged so, and when."""
    return [
        {
            "id": r.id,
            "tenant": r.tenant,
            "judged_by": r.unanswerable,
            "created_at": r.created_at,
            "language": r.asked_in,
            "question": shown_question(r.question),
        }
        for r in unanswerable(store, tenant=tenant, limit=limit)
    ]


def _refused_rows(store: Store, tenant: str | None, limit: int) -> list[dict[str, object]]:
    """Degraded answers: what was served instead (status) and why the LLM reply was not."""
    return [
        {
            "id": r.id,
            "tenant": r.tenant,
            "status": r.status,
            "created_at": r.created_at,
            "language": r.language,
            "question": shown_question(r.question),
            "reason": printable(r.reason or ""),
        }
        for r in refused_replies(store, tenant=tenant, limit=limit)
    ]


@review.command()
@click.argument("answer_id")
@pass_home
def show(ctx: CliContext, answer_id: str) -> None:
    """Show a question, its answer, each cited passage, tokens, cost and the audit trail.

    For a stale answer, the diff between the cited passage and the page now.

    Example: muni-crawl review show 3c8bff80d7094b49bb4d68004a0af194
    """
    with ctx.home.store() as store:
        click.echo(render(store, answer_id, ctx.home.settings.index))


def render(store: Store, answer_id: str, chunking: IndexSettings) -> str:
    """The answer as a reviewer sees it: questions and reasons redacted, no control characters."""
    return printable(_render(store, answer_id, chunking))


def _render(store: Store, answer_id: str, chunking: IndexSettings) -> str:
    row = get_answer(store, answer_id)
    given = json.loads(row.passages)
    lines = [
        f"Answer {row.id}  [{row.review_status or row.status}]  tenant {row.tenant}",
        f"Question ({row.asked_in}): {shown_question(row.question)}",
        "",
        shown_answer(row.served_text),
        "",
        "Sources:",
    ]
    if row.reason:  # why it was degraded (a refused LLM reply) or where it came from
        lines.insert(2, f"Reason: {row.reason}")
    for citation in json.loads(row.citations):
        lines.append(f"  [{citation['n']}] {citation['title']} - {citation['url']}")
        if 0 < citation["n"] <= len(given):
            passage = " ".join(given[citation["n"] - 1]["text"].split())
            lines.append(f"      {passage[:400]}")
    cost = row.cost_micro_dkk / 1_000_000
    lines.append(
        f"Tokens: {row.prompt_tokens} in, {row.completion_tokens} out (provider:"
        f" {row.provider_prompt_tokens}/{row.provider_completion_tokens}); documents"
        f" searched {row.documents_searched}; cost {cost:.6f} DKK; model {row.model}"
    )
    if row.review_status == "stale":
        lines.append("Changes in cited pages since approval:")
        for n, url, diff in cited_passage_diffs(store, answer_id, chunking):
            lines.append(f"  [{n}] {url}")
            lines.extend("    " + line for line in diff)
    trail = actions(store, answer_id)
    if trail:
        lines.append("Audit trail:")
        for action in trail:
            detail = f" ({redact(action.reason).text})" if action.reason else ""
            lines.append(f"  {action.at}  {action.action:8} {action.reviewer}{detail}")
    return "\n".join(lines)


@review.command("approve")
@click.argument("answer_id")
@click.option("--edit", is_flag=True, help="Edit the answer in $EDITOR before approving it.")
@click.option(
    "--scope",
    type=click.Choice(SCOPES),
    default="tenant",
    show_default=True,
    help="Serve it to this tenant only, or to all tenants (national topics).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Approve although a cited page does not reach every tenant of the scope"
    " (the warning is kept in the audit trail).",
)
@_reviewer_option()
@pass_home
def approve_(
    ctx: CliContext, answer_id: str, edit: bool, scope: str, force: bool, reviewer: str
) -> None:
    """Approve a pending (or stale) answer; approved answers are served first, at no token cost.

    With --scope all, every cited page must be shared by all tenants (a national page, or a
    page of a source that feeds every tenant); a municipality's own pages are refused unless
    --force is given. An answer holding a CPR number is never approved.

    Example: muni-crawl review approve 3c8bff80d7094b49bb4d68004a0af194 --edit
    """
    with ctx.home.store() as store:
        do_approve(ctx, store, answer_id, edit=edit, scope=scope, reviewer=reviewer, force=force)
    click.echo(f"approved {answer_id}")


def do_approve(
    ctx: CliContext,
    store: Store,
    answer_id: str,
    *,
    edit: bool,
    scope: str,
    reviewer: str,
    force: bool = False,
) -> None:
    text = None
    if edit:
        row = get_answer(store, answer_id)
        edited = click.edit(row.served_text, require_save=True)
        if edited is None:
            raise click.ClickException("the editor was closed without saving; nothing approved")
        text = edited
    registry = ctx.home.registry
    embedder = embedder_for(ctx.home.settings.embedding)
    warnings = approve(
        store,
        answer_id,
        reviewer=reviewer,
        embedder=embedder,
        text=text,
        scope=scope,
        registry=registry,
        force=force,
    )
    for warning in warnings:
        click.echo(f"Warning: {printable(warning)}", err=True)


@review.command("reject")
@click.argument("answer_id")
@click.option("--reason", required=True, help="Why (recorded in the audit trail).")
@click.option(
    "--outside",
    is_flag=True,
    help="The sources do not answer the question: the same question on the same passages is"
    " refused at 0 tokens from now on, until those passages change.",
)
@_reviewer_option()
@pass_home
def reject_(ctx: CliContext, answer_id: str, reason: str, outside: bool, reviewer: str) -> None:
    """Reject a pending answer with a reason; the same text is not served again.

    Example: muni-crawl review reject 3c8bff80d7094b49bb4d68004a0af194 --reason "forkert pris"
    """
    with ctx.home.store() as store:
        do_reject(ctx, store, answer_id, reason=reason, reviewer=reviewer, outside=outside)
    click.echo(f"rejected {answer_id}" + (" (outside the sources)" if outside else ""))


def do_reject(
    ctx: CliContext, store: Store, answer_id: str, *, reason: str, reviewer: str, outside: bool
) -> None:
    embedder = embedder_for(ctx.home.settings.embedding) if outside else None
    reject(store, answer_id, reviewer=reviewer, reason=reason, outside=embedder)


@review.command("forget")
@click.argument("answer_id")
@click.option("--reason", required=True, help="Why (recorded in the audit trail).")
@_reviewer_option()
@pass_home
def forget_(ctx: CliContext, answer_id: str, reason: str, reviewer: str) -> None:
    """Stop refusing a question remembered as unanswerable; it goes to the LLM again.

    `review list --unanswerable` lists them, and a refused answer's reason names the one
    it was refused on.

    Example: muni-crawl review forget 3c8bff80d7094b49bb4d68004a0af194 --reason "siden er rettet"
    """
    with ctx.home.store() as store:
        forget(store, answer_id, reviewer=reviewer, reason=reason)
    click.echo(f"forgot {answer_id}: asked again, the question is answered afresh")


@review.command("next")
@click.option("--tenant", help="Only this tenant's answers.")
@_reviewer_option()
@pass_home
def next_(ctx: CliContext, tenant: str | None, reviewer: str) -> None:
    """Go through pending answers: [a]pprove [e]dit [r]eject [o]utside [s]kip [q]uit.

    [o] rejects the answer as outside the sources (see `review reject --outside`).

    Example: muni-crawl review next --tenant aarhus
    """
    done = 0
    skipped: set[str] = set()
    with ctx.home.store() as store:
        while True:
            pending = [
                r
                for r in list_answers(store, tenant=tenant, status="pending")
                if r.id not in skipped
            ]
            if not pending:
                click.echo(f"No more pending answers ({done} reviewed).")
                return
            answer_id = pending[-1].id  # oldest first
            click.echo("\n" + render(store, answer_id, ctx.home.settings.index))
            click.echo(
                "[a]pprove  [e]dit  [r]eject  [o]utside the sources  [s]kip  [q]uit: ", nl=False
            )
            key = click.getchar().lower()
            click.echo(key)
            if key in ("a", "e"):
                try:
                    do_approve(
                        ctx, store, answer_id, edit=key == "e", scope="tenant", reviewer=reviewer
                    )
                except ReviewError as exc:  # refused (a CPR number, a foreign link): go on
                    click.echo(f"Not approved: {printable(str(exc))}", err=True)
                    skipped.add(answer_id)
                    continue
                done += 1
            elif key in ("r", "o"):
                reason = click.prompt("Reason")
                try:
                    do_reject(
                        ctx, store, answer_id, reason=reason, reviewer=reviewer, outside=key == "o"
                    )
                except ReviewError as exc:  # e.g. an older answer cannot be marked outside
                    click.echo(f"Not rejected: {printable(str(exc))}", err=True)
                    skipped.add(answer_id)
                    continue
                done += 1
            elif key == "s":
                skipped.add(answer_id)
            elif key == "q":
                click.echo(f"Stopped ({done} reviewed).")
                return
            else:
                click.echo("Press a, e, r, o, s or q.")


@review.command("export")
@click.option("--tenant", help="Only answers served to this tenant (its own and all-tenant ones).")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), required=True)
@pass_home
def export(ctx: CliContext, tenant: str | None, fmt: str) -> None:
    """Write approved answers (question, answer, citations, scope, approved by/at) to stdout.

    Questions are redacted again on the way out. In CSV, a cell that a spreadsheet would run
    as a formula (it starts with =, +, -, @) is prefixed with an apostrophe.

    Example: muni-crawl review export --tenant aarhus --format csv > godkendte.csv
    """
    with ctx.home.store() as store:
        rows = export_approved(store, tenant)
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    columns = [
        "id",
        "tenant",
        "scope",
        "language",
        "question",
        "answer",
        "citations",
        "approved_by",
        "approved_at",
    ]
    writer = csv.DictWriter(sys.stdout, fieldnames=columns)
    writer.writeheader()
    for row in rows:
        citations = " ".join(f"[{c['n']}] {c['url']}" for c in row["citations"])
        writer.writerow({k: _cell(v) for k, v in {**row, "citations": citations}.items()})


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> object:
    """A CSV cell a spreadsheet shows as text: no formula, no control characters."""
    if not isinstance(value, str):
        return value
    text = printable(value)
    return "'" + text if text.startswith(_FORMULA_START) else text
