"""``facemood models``: list the bundles of a store, serve one."""

from __future__ import annotations

import click

from cli.options import model_store, print_json, store_option


@click.group()
def models() -> None:
    """The model store: list the bundles, serve one (promote or roll back)."""


@models.command("list")
@store_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def models_list(store: str | None, as_json: bool) -> None:
    """Every bundle in the store: run id, date, metrics, accepted or rejected and why, which is served."""
    from facemood import registry, storage

    store = model_store(store)
    entries = registry.list_models(store, storage.client_for(store))
    if as_json:
        print_json([e.to_json() for e in entries])
        return
    if not entries:
        click.echo("no models in this store")
        return
    for entry in entries:
        figures = ", ".join(f"{name} accuracy {m['accuracy']:.1%} macro-F1 {m['macro_f1']:.1%}"
                            for name, m in entry.metrics.items())
        marks = (["SERVED"] if entry.served else []) + [f"promoted {m.time} ({m.by})" for m in entry.moves]
        click.echo(f"{entry.run_id}  {entry.created}  {entry.status}  {figures}"
                   + (f"  [{'; '.join(marks)}]" if marks else ""))
        for reason in entry.reasons:
            click.echo(f"    why: {reason}")


@models.command("promote")
@click.argument("run_id")
@store_option
@click.option("--reason", default="promoted by hand", show_default=True, help="Recorded in the history.")
def models_promote(run_id: str, store: str | None, reason: str) -> None:
    """Serve bundle RUN_ID (promotion or rollback): verified first, then latest.json moves and the
    move is appended to models/history/."""
    from facemood import registry, storage

    store = model_store(store)
    move = registry.promote(store, run_id, reason, client=storage.client_for(store))
    print_json(move.to_json())
    click.echo(f"now serving {move.run_id}" + (f" (was {move.previous_run_id})" if move.previous_run_id else ""),
               err=True)
