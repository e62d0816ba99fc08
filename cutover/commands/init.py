"""``cutover init``: a Django project's config, routing manifest and starter parity cases, from what
Django knows of it (its settings, URL resolver and views)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from ..errors import reports_errors
from ..init.project import InitOptions, init_project
from . import project_config

console = Console(highlight=False, soft_wrap=True)  # a line is never wrapped: grep finds it


def register(app: typer.Typer) -> None:
    @app.command("init")
    def init(
        ctx: typer.Context,
        modern: Annotated[
            str | None, typer.Option(help="The FastAPI port's ASGI app, module:attribute, when one exists.")
        ] = None,
        pyproject: Annotated[
            bool, typer.Option(help="Write the config as [tool.cutover] in pyproject.toml, not cutover.toml.")
        ] = False,
        user: Annotated[
            list[str] | None,
            typer.Option(help="A fixture username the starter cases authenticate as (repeatable)."),
        ] = None,
        dry_run: Annotated[
            bool, typer.Option(help="Write nothing; print what would change, as a diff.")
        ] = False,
    ) -> None:
        """Write the project config, the routing manifest (every URL on legacy) and starter parity cases.

        Run again after the project grew: new URLs are added, gone ones marked, nothing you edited changes.
        """

        @reports_errors
        def run() -> None:
            project = project_config(ctx)
            options = InitOptions(
                modern=modern, pyproject=pyproject, users=tuple(user or ()), dry_run=dry_run
            )
            result = init_project(project, options)
            if dry_run:
                text = result.diff or "cutover init: nothing would change"
                console.print(text, markup=False, end="" if text.endswith("\n") else "\n")
                return
            for path in result.written:
                console.print(f"wrote {path.relative_to(project.root)}", markup=False)
            if result.added:
                console.print(f"routes added: {', '.join(result.added)}", markup=False)
            if result.marked:
                console.print(
                    f"routes no URL serves any more (marked): {', '.join(result.marked)}", markup=False
                )
            for skipped in result.skipped:
                console.print(f"left to [default] (legacy): {skipped.reason}", markup=False)
            cases_kept = result.cases_kept
            if user and cases_kept:
                # --user shapes new starter files only: a file that exists is the user's and stays as it is.
                console.print(
                    f"--user {', '.join(user)}: {len(cases_kept)} starter case file(s) exist and are never "
                    f"rewritten (first: {cases_kept[0].relative_to(project.root)}); delete one to have it "
                    "written again with these users, or add their cases by hand",
                    markup=False,
                )
            elif not result.written:
                console.print("cutover init: everything is up to date", markup=False)

        run()
