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

from muni_crawl.cli.common import HomeContext, emit, pass_home
from muni_crawl.embed import embedder_for
from muni_crawl.review import (
    REVIEW_STATUSES,
    SCOPES,
    actions,
    approve,
    cited_passage_diffs,
    export_approved,
    get_answer,
    list_answers,
    reject,
)
from muni_crawl.store import Store

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
    """Review generated answers: list, show, approve (optionally edited), reject, export."""


@review.command("list")
@click.option("--tenant", help="Only this tenant.")
@click.option("--status", type=click.Choice(REVIEW_STATUSES), help="Only this review status.")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
@pass_home
def list_(home: HomeContext, tenant: str | None, status: str | None, as_json: bool) -> None:
    """List answers under review, newest first.

    Example: muni-crawl review list --status pending --tenant aarhus
    """
    with Store(home.settings.database) as store:
        rows = [
            {
                "id": r["id"],
                "tenant": r["tenant"],
                "status": r["review_status"],
                "created_at": r["created_at"],
                "language": r["language"],
                "question": r["question"],
                "answer": " ".join((r["approved_text"] or r["text"]).split())[:80],
            }
            for r in list_answers(store, tenant=tenant, status=status)
        ]
    emit(
        rows,
        ["id", "tenant", "status", "created_at", "language", "question", "answer"],
        "json" if as_json else "table",
    )


@review.command()
@click.argument("answer_id")
@pass_home
def show(home: HomeContext, answer_id: str) -> None:
    """Show a question, its answer, each cited passage, tokens, cost and the audit trail.

    For a stale answer, the diff between the cited passage and the page now.

    Example: muni-crawl review show 3c8bff80d7094b49bb4d68004a0af194
    """
    with Store(home.settings.database) as store:
        click.echo(render(store, answer_id))


def render(store: Store, answer_id: str) -> str:
    row = get_answer(store, answer_id)
    given = json.loads(row["passages"])
    lines = [
        f"Answer {row['id']}  [{row['review_status'] or row['status']}]  tenant {row['tenant']}",
        f"Question ({row['language']}): {row['question']}",
        "",
        row["approved_text"] or row["text"],
        "",
        "Sources:",
    ]
    for citation in json.loads(row["citations"]):
        lines.append(f"  [{citation['n']}] {citation['title']} - {citation['url']}")
        if 0 < citation["n"] <= len(given):
            passage = " ".join(given[citation["n"] - 1]["text"].split())
            lines.append(f"      {passage[:400]}")
    cost = row["cost_micro_dkk"] / 1_000_000
    lines.append(
        f"Tokens: {row['prompt_tokens']} in, {row['completion_tokens']} out (provider:"
        f" {row['provider_prompt_tokens']}/{row['provider_completion_tokens']}); documents"
        f" searched {row['documents_searched']}; cost {cost:.6f} DKK; model {row['model']}"
    )
    if row["review_status"] == "stale":
        lines.append("Changes in cited pages since approval:")
        for n, url, diff in cited_passage_diffs(store, answer_id):
            lines.append(f"  [{n}] {url}")
            lines.extend("    " + line for line in diff)
    trail = actions(store, answer_id)
    if trail:
        lines.append("Audit trail:")
        for action in trail:
            detail = f" ({action['reason']})" if action["reason"] else ""
            lines.append(f"  {action['at']}  {action['action']:8} {action['reviewer']}{detail}")
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
@_reviewer_option()
@pass_home
def approve_(home: HomeContext, answer_id: str, edit: bool, scope: str, reviewer: str) -> None:
    """Approve a pending (or stale) answer; approved answers are served first, at no token cost.

    Example: muni-crawl review approve 3c8bff80d7094b49bb4d68004a0af194 --edit
    """
    with Store(home.settings.database) as store:
        do_approve(home, store, answer_id, edit=edit, scope=scope, reviewer=reviewer)
    click.echo(f"approved {answer_id}")


def do_approve(
    home: HomeContext, store: Store, answer_id: str, *, edit: bool, scope: str, reviewer: str
) -> None:
    text = None
    if edit:
        row = get_answer(store, answer_id)
        edited = click.edit(row["approved_text"] or row["text"], require_save=True)
        if edited is None:
            raise click.ClickException("the editor was closed without saving; nothing approved")
        text = edited
    embedder = embedder_for(home.settings)
    approve(store, answer_id, reviewer=reviewer, embedder=embedder, text=text, scope=scope)


@review.command("reject")
@click.argument("answer_id")
@click.option("--reason", required=True, help="Why (recorded in the audit trail).")
@_reviewer_option()
@pass_home
def reject_(home: HomeContext, answer_id: str, reason: str, reviewer: str) -> None:
    """Reject a pending answer with a reason; the same text is not served again.

    Example: muni-crawl review reject 3c8bff80d7094b49bb4d68004a0af194 --reason "forkert pris"
    """
    with Store(home.settings.database) as store:
        reject(store, answer_id, reviewer=reviewer, reason=reason)
    click.echo(f"rejected {answer_id}")


@review.command("next")
@click.option("--tenant", help="Only this tenant's answers.")
@_reviewer_option()
@pass_home
def next_(home: HomeContext, tenant: str | None, reviewer: str) -> None:
    """Go through pending answers one by one: [a]pprove [e]dit [r]eject [s]kip [q]uit.

    Example: muni-crawl review next --tenant aarhus
    """
    done = 0
    skipped: set[str] = set()
    with Store(home.settings.database) as store:
        while True:
            pending = [
                r
                for r in list_answers(store, tenant=tenant, status="pending")
                if r["id"] not in skipped
            ]
            if not pending:
                click.echo(f"No more pending answers ({done} reviewed).")
                return
            answer_id = pending[-1]["id"]  # oldest first
            click.echo("\n" + render(store, answer_id))
            click.echo("[a]pprove  [e]dit  [r]eject  [s]kip  [q]uit: ", nl=False)
            key = click.getchar().lower()
            click.echo(key)
            if key == "a":
                do_approve(home, store, answer_id, edit=False, scope="tenant", reviewer=reviewer)
                done += 1
            elif key == "e":
                do_approve(home, store, answer_id, edit=True, scope="tenant", reviewer=reviewer)
                done += 1
            elif key == "r":
                reason = click.prompt("Reason")
                reject(store, answer_id, reviewer=reviewer, reason=reason)
                done += 1
            elif key == "s":
                skipped.add(answer_id)
            elif key == "q":
                click.echo(f"Stopped ({done} reviewed).")
                return
            else:
                click.echo("Press a, e, r, s or q.")


@review.command("export")
@click.option("--tenant", help="Only answers served to this tenant (its own and all-tenant ones).")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), required=True)
@pass_home
def export(home: HomeContext, tenant: str | None, fmt: str) -> None:
    """Write approved answers (question, answer, citations, scope, approved by/at) to stdout.

    Example: muni-crawl review export --tenant aarhus --format csv > godkendte.csv
    """
    with Store(home.settings.database) as store:
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
        writer.writerow({**row, "citations": citations})
