"""`muni-crawl init`: a starter home (tenants, one source file of each kind, settings)."""

from __future__ import annotations

import os
import shlex
import shutil
from pathlib import Path

import click

from muni_crawl.cli.common import CliContext, pass_home
from muni_crawl.config import ENV_PREFIX

STARTER = Path(__file__).resolve().parent.parent / "starter"
# (file in the home, what it is for), in the order they are listed
STARTER_FILES = (
    ("spiders/tenants.toml", "the municipality: slug, name, municipality code, contact page"),
    ("spiders/aarhus.toml", "its website (kind municipal)"),
    ("spiders/borger.dk.toml", "borger.dk's articles with each tenant's local text (borger_dk)"),
    ("spiders/knowledge-base.toml", "a knowledge-base feed (disabled until filled in)"),
    ("muni-crawl.toml", "settings, all commented out (the defaults apply)"),
)


def _default_home() -> Path:
    """The home the other commands use without --home: $MUNI_CRAWL_HOME, else the current
    folder (see Settings.load)."""
    value = os.environ.get(ENV_PREFIX + "HOME")
    return Path(value).expanduser() if value else Path.cwd()


@click.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite starter files that already exist.")
@pass_home
def init(ctx: CliContext, directory: Path | None, force: bool) -> None:
    """Write a starter home into DIRECTORY (default: the home), commented to be edited.

    It holds spiders/tenants.toml with one municipality, a source file of each kind (the
    municipality's website, borger.dk through its ArticleExport service, a knowledge-base
    feed left disabled) and a settings file with the main settings commented out. Existing
    files are left alone (the command stops and names them) unless --force is given. It
    prints what to edit next and the commands to run.

    Example: muni-crawl init /srv/muni-crawl
    """
    target = directory or ctx.home_path or _default_home()
    missing = [name for name, _ in STARTER_FILES if not (STARTER / name).is_file()]
    if missing:
        raise click.ClickException(
            f"the installed package lacks its starter files ({', '.join(missing)} in {STARTER})"
        )
    existing = [name for name, _ in STARTER_FILES if (target / name).exists()]
    if existing and not force:
        raise click.ClickException(
            f"{target} already has {', '.join(existing)}; not overwriting"
            f" {'it' if len(existing) == 1 else 'them'} (--force replaces the starter files)"
        )
    try:
        for name, _ in STARTER_FILES:
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(STARTER / name, target / name)
    except OSError as exc:
        raise click.ClickException(f"cannot write the starter home in {target}: {exc}") from exc
    _print_next_steps(target, replaced=existing)


def _print_next_steps(target: Path, replaced: list[str]) -> None:
    width = max(len(name) for name, _ in STARTER_FILES)
    click.echo(f"Wrote a starter home in {target}:")
    for name, what in STARTER_FILES:
        note = " (replaced)" if name in replaced else ""
        click.echo(f"  {name.ljust(width)}  {what}{note}")
    same = target.resolve() == _default_home().resolve()
    prefix = "muni-crawl " + ("" if same else f"--home {shlex.quote(str(target))} ")
    click.echo(
        "\nEdit next:\n"
        "  1. spiders/tenants.toml: your municipality's slug, name, code and contact page.\n"
        "  2. spiders/aarhus.toml: its website; rename the file to the new slug.\n"
        "  3. spiders/knowledge-base.toml: fill in feed, auth_env and [fields], then set\n"
        "     enabled = true; or delete the file.\n"
        "  4. muni-crawl.toml: a user_agent with your contact URL; llm_model for generated\n"
        "     answers (the key comes from OPENAI_API_KEY).\n"
        "\nThen validate the files, crawl and index every enabled source, ask a question, and"
        " print\nthe crontab lines that keep the sources fresh:\n"
        f"  {prefix}sources check\n"
        f"  {prefix}crawl --all\n"
        f'  {prefix}ask aarhus "Hvordan skifter jeg læge?"\n'
        f"  {prefix}schedule"
    )
