"""`muni-crawl calibrate`: refit the evidence gate on this deployment's index and verdicts."""

from __future__ import annotations

import json
from pathlib import Path

import click

from muni_crawl.cli.common import CliContext, format_option, pass_home
from muni_crawl.errors import ConfigError
from muni_crawl.gate_calibrate import (
    MIN_CASES,
    CalibrationReport,
    Shares,
    write_calibration,
)
from muni_crawl.gate_calibrate import (
    calibrate as fit_home,
)


@click.command()
@click.argument("tenants", nargs=-1)
@click.option(
    "--questions",
    "questions_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A TOML file of labelled questions ([[question]] question, answerable, tenant).",
)
@click.option(
    "--no-history",
    is_flag=True,
    help="Leave out the recorded verdicts (approved answers, questions found unanswerable).",
)
@click.option(
    "--min-cases",
    type=click.IntRange(2, 100_000),
    default=MIN_CASES,
    show_default=True,
    help="Answerable and off-topic questions each profile needs, of each, to be fitted.",
)
@click.option("--write", is_flag=True, help="Write the fitted weights into the home's gate.")
@format_option("text", "json")
@pass_home
def calibrate(
    ctx: CliContext,
    tenants: tuple[str, ...],
    questions_file: Path | None,
    no_history: bool,
    min_cases: int,
    write: bool,
    fmt: str,
) -> None:
    """Refit the evidence gate on TENANTS' index (all tenants if none are named) from what
    this deployment has learnt: answers the review team approved, questions the LLM or a
    reviewer found the sources do not answer, and any --questions file.

    Prints the gate in use and the refitted one on those questions; --write puts the fitted
    weights into the home's calibration.toml, which every answer reads from then on.

    Example: muni-crawl calibrate --questions labelled.toml --write
    """
    home = ctx.home
    report = fit_home(
        home,
        tenants,
        questions_file=questions_file,
        history=not no_history,
        min_cases=min_cases,
    )
    if not sum(report.labels.values()):
        raise ConfigError(
            "no labelled questions: approve answers with `muni-crawl review`, let the LLM find"
            " questions unanswerable, or give --questions FILE"
        )
    written = write_calibration(home, report) if write and report.writable else None
    if fmt == "json":
        click.echo(
            json.dumps(
                {**report.to_dict(), "written": str(written) if written else None},
                indent=2,
                ensure_ascii=False,
            )
        )
    else:
        click.echo(_text(report))
    if written is not None:
        click.echo(f"wrote {written}: the gate uses it from the next answer on", err=True)
    elif write:
        raise click.ClickException("nothing written: no profile was fitted (see above)")
    else:
        click.echo("nothing written (add --write to use the refitted gate)", err=True)


def _text(report: CalibrationReport) -> str:
    sources = ", ".join(f"{count} {label}" for label, count in report.labels.items() if count)
    lines = [
        f"model {report.model}: {sum(report.labels.values())} labelled questions ({sources})",
        f"gate in use: {_shares(report.current)}",
        f"refitted:    {_shares(report.refit)} (on the same questions)",
    ]
    lines += [f"{p.profile}: {p.note}" for p in report.profiles]
    return "\n".join(lines)


def _shares(shares: Shares) -> str:
    def part(refused: int, total: int) -> str:
        return f"{refused} of {total}" + (f" ({refused / total:.1%})" if total else "")

    return (
        f"refuses {part(shares.answerable_refused, shares.answerable)} answerable,"
        f" {part(shares.off_topic_refused, shares.off_topic)} off-topic"
    )
