"""`nox -s eval`: RPC and payment metrics on the held-out evaluation split.

    python -m tools.recognition.evaluate [--trays 300] [--unknown-trays 60] [--json OUT]

The gallery is filled only through Pipeline.register (the registration endpoint's path) from the
reference photos; trays come from the `evaluation` seed, which calibration never sees.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ai.recognition.pipeline import DEFAULT_CALIBRATION
from fixtures.bakery import SEEDS
from tools.recognition.bakery import metrics, new_pipeline, run_split

AIMS = {"wrong_auto": ("<=", 0.005), "automation": (">=", 0.90), "cAcc": (">=", 0.97)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.recognition.evaluate")
    ap.add_argument("--trays", type=int, default=300)
    ap.add_argument("--unknown-trays", type=int, default=60)
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args(argv)
    seed = SEEDS["evaluation"]
    cal = json.loads(DEFAULT_CALIBRATION.read_text(encoding="utf-8"))
    if cal.get("fitted_on", {}).get("seed") == seed:
        raise SystemExit("the calibration artefact was fitted on the evaluation split")
    p = new_pipeline("cpu")
    print(
        f"gallery: {len(p.gallery)} reference crops of {len(p.gallery.sku_list)} products, "
        f"registered through Pipeline.register; {p.model_version}"
    )
    res = run_split(p, seed, a.trays)
    m = metrics(res)
    report = {"evaluation": m}
    if a.unknown_trays:
        # one product on each tray is missing from the candidates: the tray must not be AUTO
        unk = run_split(p, seed, a.unknown_trays, exclude_one=True, start=a.trays)
        report["unknown_product"] = {
            "trays": len(unk),
            "auto_share": sum(r.decision == "AUTO" for r in unk) / len(unk),
            "decisions": metrics(unk)["decisions"],
        }
    print(json.dumps(report, indent=2))
    misses = []
    for k, (op, v) in AIMS.items():
        ok = m[k] <= v if op == "<=" else m[k] >= v
        print(f"{k:12s} {m[k]:.4f}  aim {op} {v}  {'met' if ok else 'MISSED'}")
        if not ok:
            misses.append(k)
    if a.json:
        a.json.write_text(json.dumps(report, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
