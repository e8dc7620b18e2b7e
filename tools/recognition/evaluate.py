"""`nox -s eval`: recognition per tray family, with and without the counter's capture; a gate.

    python -m tools.recognition.evaluate [--trays 30] [--unknown-trays 10] [--families a,b]
        [--skus A,B] [--photos 5] [--calibration PATH] [--json OUT]

Every tray family is its own bakery: a counter whose tray and light the metric and calibration
never saw (the `evaluation` seed, counter EVAL_COUNTER), its products (the catalog and the pale
and topped styles) registered through Pipeline.register from photos shot at that counter, and
its empty tray captured through Pipeline.capture_background. Each tray is recognized twice:
without the capture (the tray estimated from the frame) and with it.

The held-out families are reported one by one and together; the fitting families (those the
metric and calibration were fitted on) are reported for comparison. The aims are checked on the
held-out families in each mode; the exit status is 1 when any is missed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ai.recognition.pipeline import DEFAULT_CALIBRATION
from fixtures.bakery import (
    FAMILIES,
    FITTING_FAMILIES,
    HELD_OUT_FAMILIES,
    HELD_OUT_STYLES,
    SEEDS,
    style_skus,
)
from tools.recognition.bakery import (
    TrayResult,
    capture_counter,
    metrics,
    new_pipeline,
    one_thread,
    run_split,
)

EVAL_COUNTER = 3  # the fitting tools use counters 0-2
# (metric, comparison, value): checked on the held-out families, in each mode
AIMS: tuple[tuple[str, str, float], ...] = (
    ("wrong_auto", "<=", 0.005),
    ("missing_auto", "<=", 0),
    ("automation", ">=", 0.85),
    ("cAcc", ">=", 0.95),
)
MODES = ("no capture", "capture")


def check_aims(summary: dict) -> list[str]:
    """The aims `summary` ({mode: metrics}) misses, as readable lines (empty: all met)."""
    misses = []
    for mode, m in summary.items():
        for key, op, aim in AIMS:
            ok = m[key] <= aim if op == "<=" else m[key] >= aim
            if not ok:
                misses.append(f"{mode}: {key} {m[key]:.4f}, aim {op} {aim}")
    return misses


Run = dict[str, tuple[list[TrayResult], list[TrayResult]]]  # mode -> (trays, unknown-product)


def evaluate_family(
    family: str, skus: list[str], trays: int, unknown: int, photos: int, calibration: str | None
) -> Run:
    """Every tray of the family's evaluation counter, per mode: (all products candidates,
    one product on the tray left out of the candidates)."""
    p = new_pipeline(
        "cpu", calibration, skus=skus, family=family, counter=EVAL_COUNTER, photos=photos
    )
    cid = capture_counter(p, family, EVAL_COUNTER)
    ids = (None, cid)
    seed = SEEDS["evaluation"]
    kw = {"skus": skus, "family": family, "counter": EVAL_COUNTER, "counter_ids": ids}
    plain = run_split(p, seed, trays, **kw)  # type: ignore[arg-type]
    odd = (
        run_split(p, seed, unknown, exclude_one=True, start=trays, **kw)  # type: ignore[arg-type]
        if unknown
        else {c: [] for c in ids}
    )
    return {MODES[k]: (plain[c], odd[c]) for k, c in enumerate(ids)}


def figures(runs: list[tuple[list[TrayResult], list[TrayResult]]]) -> dict:
    """cAcc, ACD, automation and wrong-AUTO over the trays whose products were all candidates;
    missing-product AUTO over every tray (an unknown-product tray decided AUTO counts)."""
    plain = [r for run in runs for r in run[0]]
    odd = [r for run in runs for r in run[1]]
    m = metrics(plain)
    m["unknown_product_trays"] = len(odd)
    m["missing_auto"] += sum(r.decision == "AUTO" for r in odd)
    return m


def table(rows: list[tuple[str, str, dict]]) -> str:
    """A markdown table: family, mode and the figures."""
    head = (
        "| tray family | split | mode | trays | cAcc | ACD | automation | wrong-AUTO "
        "| missing-product AUTO |\n|---|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for family, mode, m in rows:
        split = "held-out" if family in HELD_OUT_FAMILIES else "fitting"
        if family.startswith("all "):
            split = family.removeprefix("all ")
        lines.append(
            f"| {family} | {split} | {mode} | {m['trays']} | {m['cAcc']:.3f} | {m['ACD']:.3f} "
            f"| {m['automation']:.3f} | {m['wrong_auto']:.4f} | {m['missing_auto']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.recognition.evaluate")
    ap.add_argument("--trays", type=int, default=30, help="trays per family")
    ap.add_argument(
        "--unknown-trays", type=int, default=10, help="per family, one product left out"
    )
    ap.add_argument("--families", default="", help="comma-separated (default: all)")
    ap.add_argument("--skus", default="", help="comma-separated products (default: all styles)")
    ap.add_argument("--photos", type=int, default=5, help="reference photos per product")
    ap.add_argument("--calibration", default=None, help="calibration artefact to evaluate")
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args(argv)
    one_thread()
    families = [f for f in a.families.split(",") if f] or [*HELD_OUT_FAMILIES, *FITTING_FAMILIES]
    unknown_families = [f for f in families if f not in FAMILIES]
    if unknown_families:
        print(f"unknown tray families {unknown_families}; known: {sorted(FAMILIES)}")
        return 2
    skus = [s for s in a.skus.split(",") if s] or style_skus(("classic", *HELD_OUT_STYLES))
    cal_path = a.calibration or str(DEFAULT_CALIBRATION)
    cal = json.loads(Path(cal_path).read_text(encoding="utf-8"))
    fitted = cal.get("fitted_on", {})
    if fitted.get("seed") == SEEDS["evaluation"] or set(fitted.get("families", ())) & set(
        HELD_OUT_FAMILIES
    ):
        print("the calibration artefact was fitted on evaluation data")
        return 2
    results: dict[str, Run] = {}
    for family in families:
        results[family] = evaluate_family(
            family, skus, a.trays, a.unknown_trays, a.photos, a.calibration
        )
        m = {mode: figures([run]) for mode, run in results[family].items()}
        print(
            f"{family:14s} "
            + "  ".join(
                f"{mode}: cAcc {v['cAcc']:.3f} auto {v['automation']:.3f} "
                f"wrong {v['wrong_auto']:.4f} missing {v['missing_auto']}"
                for mode, v in m.items()
            ),
            flush=True,
        )
    rows: list[tuple[str, str, dict]] = []
    report: dict = {"families": {}, "skus": skus, "calibration": cal_path}
    for family in families:
        report["families"][family] = {}
        for mode in MODES:
            m = figures([results[family][mode]])
            report["families"][family][mode] = m
            rows.append((family, mode, m))
    summary: dict[str, dict] = {}
    for group, members in (("held-out", HELD_OUT_FAMILIES), ("fitting", FITTING_FAMILIES)):
        present = [f for f in families if f in members]
        if not present:
            continue
        for mode in MODES:
            m = figures([results[f][mode] for f in present])
            rows.append((f"all {group}", mode, m))
            report[f"{group} ({mode})"] = m
            if group == "held-out":
                summary[mode] = m
    if not summary:  # only fitting families asked for: the gate checks what was run
        for mode in MODES:
            summary[mode] = figures([results[f][mode] for f in families])
    print(table(rows))
    for mode, got in summary.items():
        why = ", ".join(f"{k} {v}" for k, v in got["not_auto_because"].items())
        print(f"{mode}: not AUTO because: {why or 'every tray was AUTO'}")
    misses = check_aims(summary)
    report["misses"] = misses
    if a.json:
        a.json.write_text(json.dumps(report, indent=2), encoding="utf-8")
    for key, op, aim in AIMS:
        for mode, got in summary.items():
            value = float(got[key])
            ok = value <= aim if op == "<=" else value >= aim
            print(f"{mode:10s} {key:12s} {value:.4f}  aim {op} {aim}  {'met' if ok else 'MISSED'}")
    if misses:
        print("eval: aims missed: " + "; ".join(misses), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
