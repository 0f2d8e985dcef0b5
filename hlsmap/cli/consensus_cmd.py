"""``hlsmap consensus``, ``hlsmap change`` and ``hlsmap alerts``: maps from predictions on disk.

Inputs are per-observation predictions stores (the Zarr format of :mod:`hlsmap.predictions`,
written by ``hlsmap predict``) or class-map COGs written by ``hlsmap consensus``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hlsmap.cli.app import app, console
from hlsmap.cli.options import SeasonWrap

Preds = Annotated[
    list[Path], typer.Argument(help="Predictions stores (.zarr, hlsmap.predictions format).")
]
Out = Annotated[Path, typer.Option("--out", "-o", help="Output folder.")]
Blocksize = Annotated[int, typer.Option("--blocksize", help="COG tile size (>= 128).")]


@app.command("consensus")
def consensus_cmd(
    predictions: Preds,
    out: Out,
    year: Annotated[
        int | None, typer.Option("--year", help="Year to map (default: most observations).")
    ] = None,
    season: Annotated[
        list[str] | None,
        typer.Option(
            "--season",
            help="A season NAME=FIRST-LAST month (wraps the year end): --season wet=11-04"
            " --season dry=05-10; or --season auto to detect wet/dry from the data.",
        ),
    ] = None,
    season_wrap: SeasonWrap = "within",
    period: Annotated[
        list[str] | None,
        typer.Option(
            "--period", help="More periods: 2024-03, 2024-Q2, NAME=2024-01-01/2024-06-30."
        ),
    ] = None,
    months: Annotated[bool, typer.Option("--months", help="Also map every month.")] = False,
    quarters: Annotated[bool, typer.Option("--quarters", help="Also map every quarter.")] = False,
    annual: Annotated[
        bool, typer.Option("--annual/--no-annual", help="Map the calendar year.")
    ] = True,
    rule: Annotated[
        str, typer.Option("--rule", help="mean_prob (default), mode or weighted_mode.")
    ] = "mean_prob",
    min_valid: Annotated[
        int, typer.Option("--min-valid", help="Valid observations a pixel needs per period.")
    ] = 1,
    balance: Annotated[
        str,
        typer.Option(
            "--balance",
            help="month (every calendar month weighs the same: default) or none (every "
            "observation the same).",
        ),
    ] = "month",
    fallback: Annotated[
        str | None,
        typer.Option(
            "--fallback",
            help="Fill pixels below --min-valid from a longer period: 'year' or a period name"
            " (default: leave them no data).",
        ),
    ] = None,
    scheme: Annotated[
        str, typer.Option("--scheme", help="v1 (10 classes) or v2 (Impact Observatory 9).")
    ] = "v1",
    blocksize: Blocksize = 512,
) -> None:
    """Annual, seasonal and other period maps from per-observation predictions."""
    from hlsmap.outputs.maps import ConsensusConfig, run_consensus

    run = run_consensus(
        ConsensusConfig(
            predictions=predictions,
            out_dir=out,
            year=year,
            annual=annual,
            seasons=season or (),
            season_wrap=season_wrap,
            periods=period or (),
            months=months,
            quarters=quarters,
            rule=rule,
            min_valid=min_valid,
            balance=balance,
            fallback=fallback,
            scheme=scheme,
            blocksize=blocksize,
        )
    )
    if run.seasons is not None:
        console.print(run.seasons.describe(), highlight=False)
    console.print(
        f"{run.n_observations} observations -> {len(run.items)} maps "
        f"({', '.join(p.name for p in run.periods)}); catalog: {run.collection}",
        highlight=False,
    )


@app.command("change")
def change_cmd(
    before: Annotated[Path, typer.Argument(help="The earlier class map (COG).")],
    after: Annotated[Path, typer.Argument(help="The later class map on the same grid.")],
    out: Out,
    mmu: Annotated[
        int, typer.Option("--mmu", help="Minimum mapping unit in pixels (1 keeps all).")
    ] = 1,
    mmu_ha: Annotated[
        float | None, typer.Option("--mmu-ha", help="Minimum mapping unit in hectares.")
    ] = None,
    connectivity: Annotated[
        int, typer.Option("--connectivity", help="4 or 8 neighbours for patches.")
    ] = 8,
    blocksize: Blocksize = 512,
    threshold: Annotated[
        int | None,
        typer.Option(
            "--threshold", help="Change confidence (percent) a flip needs.", min=1, max=100
        ),
    ] = None,
    evidence: Annotated[
        bool,
        typer.Option(
            "--evidence/--no-evidence",
            help="Decide change from confidence.tif/n_valid.tif next to the maps.",
        ),
    ] = True,
    later: Annotated[
        list[Path] | None,
        typer.Option("--later", help="Class map of a period after the change (persistence)."),
    ] = None,
) -> None:
    """From-to transitions, a matrix in hectares and named change layers between two maps."""
    from hlsmap.change_rule import CHANGE_THRESHOLD
    from hlsmap.outputs.changes import ChangeConfig, run_change

    item = run_change(
        ChangeConfig(
            before=before,
            after=after,
            out_dir=out,
            mmu=mmu,
            mmu_ha=mmu_ha,
            connectivity=connectivity,
            blocksize=blocksize,
            threshold=CHANGE_THRESHOLD if threshold is None else threshold,
            evidence=evidence,
            later=tuple(later or ()),
        )
    )
    p = item.properties
    console.print(
        f"changed: {p['hlsmap:changed_hectares']} ha (MMU {p['hlsmap:mmu_pixels']} px); "
        f"tree loss {p['hlsmap:tree_loss_hectares']} ha, new built "
        f"{p['hlsmap:new_built_hectares']} ha"
        + (
            f"; land-cover change {p['hlsmap:land_cover_change_hectares']} ha at change "
            f"confidence >= {p['hlsmap:change_threshold']}%"
            if "hlsmap:change_threshold" in p
            else ""
        )
        + f"; written to {out}",
        highlight=False,
    )


@app.command("alerts")
def alerts_cmd(
    predictions: Preds,
    baseline: Annotated[Path, typer.Option("--baseline", help="Baseline annual class map.")],
    out: Out,
    k: Annotated[int, typer.Option("--k", help="Disagreeing observations to confirm.")] = 3,
    n: Annotated[int, typer.Option("--n", help="...among the last n valid observations.")] = 4,
    min_prob: Annotated[
        float, typer.Option("--min-prob", help="Probability an observation needs (0..1).")
    ] = 0.7,
    since: Annotated[
        str | None, typer.Option("--since", help="Ignore observations before this date.")
    ] = None,
    state: Annotated[
        Path | None,
        typer.Option("--state", help="Alert state file (.npz): continued and saved each run."),
    ] = None,
    baseline_confidence: Annotated[
        Path | None,
        typer.Option(
            "--baseline-confidence",
            help="The baseline's confidence layer (default: confidence.tif next to it).",
        ),
    ] = None,
    min_baseline_conf: Annotated[
        float,
        typer.Option(
            "--min-baseline-conf",
            help="Baseline confidence (0..1) a pixel needs to alert; 0 alerts everywhere.",
        ),
    ] = 0.7,
    blocksize: Blocksize = 512,
) -> None:
    """Near-real-time change alerts against a baseline map, confirmed by k of n observations.

    Only pixels the baseline is sure of alert: where it was a coin toss, observations that
    disagree with it mostly correct the baseline rather than report a change.
    """
    from hlsmap.outputs.changes import AlertsConfig, run_alerts

    item = run_alerts(
        AlertsConfig(
            predictions=predictions,
            baseline=baseline,
            out_dir=out,
            k=k,
            n=n,
            min_prob=min_prob,
            since=since,
            state=state,
            baseline_confidence=baseline_confidence,
            min_baseline_conf=min_baseline_conf,
            blocksize=blocksize,
        )
    )
    p = item.properties
    console.print(
        f"{p['hlsmap:confirmed_pixels']} confirmed, {p['hlsmap:candidate_pixels']} candidate "
        f"pixels up to {p['hlsmap:last_date']}; written to {out}",
        highlight=False,
    )
