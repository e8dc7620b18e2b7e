"""Fit the built-in embedder's linear metric on the development split and write its artefact.

    python -m tools.recognition.metric [--trays 150] [--out PATH (default: the committed artefact)]

Uses only the `development` seed of fixtures/bakery/seeds.json (never calibration or evaluation)
and the reference photos. Steps:
1. register the catalog from its reference photos (public register API) and keep their crops;
2. segment the development trays and keep every item crop that overlaps a true item well
   (box IoU >= 0.7 in its frame), labelled with that item's product;
3. fit linear discriminant analysis on the descriptors: whiten the within-product scatter
   (lighting, pose, blur), keep the directions that best separate the products;
4. write the descriptor mean, the projection and the blend weight (`alpha`: the projection's share
   of the embedding, the rest is the centred descriptor itself).
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import torch

from ai.recognition.embed import DEFAULT_METRIC, DESCRIPTOR_ID, ColourTextureEmbedder
from ai.recognition.gallery import Gallery
from ai.recognition.pipeline import DEFAULT_CALIBRATION, Calibration, Pipeline
from fixtures.bakery import SEEDS, catalog_skus
from tools.recognition.bakery import frame_box, generate_trays, register_catalog, true_item

REGULARIZATION = 0.1  # shrinks the within-product scatter toward a scaled identity
ALPHA = 0.7  # chosen on held-out development trays and on products left out of the fit


def collect(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """(crops, scales, skus) of the reference photos and of well-segmented tray items."""
    # the bare descriptor: the crops do not depend on the embedder, and the artefact may not exist
    cal = Calibration.load(DEFAULT_CALIBRATION)
    p = Pipeline(torch.device("cpu"), ColourTextureEmbedder(), DESCRIPTOR_ID, Gallery(""), cal)
    register_catalog(p)
    g = p.gallery
    crops, scales, skus = [g.crops.float() / 255.0], [g.scales], list(g.skus)
    for i, tray in enumerate(generate_trays(seed, range(n), catalog_skus())):
        batch = p.preprocess(tray.frames())
        raw = p.inference(batch)
        keep = []
        for r in range(len(raw.frame)):
            f = int(raw.frame[r])
            box = frame_box(raw.boxes[r].tolist(), batch.sizes[f], raw.seg_size)
            k, iou = true_item(tray, f, box)
            if iou >= 0.7:
                keep.append(r)
                skus.append(tray.poses[k].sku)
        crops.append(raw.crops[keep])
        scales.append(raw.scales[keep])
        if (i + 1) % 25 == 0:
            print(f"  {i + 1}/{n} trays", flush=True)
    return torch.cat(crops), torch.cat(scales), skus


def fit_lda(x: torch.Tensor, labels: list[str], reg: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean (D,), projection (D, C-1)): the discriminant directions of the products."""
    xd = x.double()
    mean = xd.mean(0)
    d = x.shape[1]
    within = torch.zeros(d, d, dtype=torch.float64)
    between = torch.zeros(d, d, dtype=torch.float64)
    classes = sorted(set(labels))
    for c in classes:
        xc = xd[[i for i, s in enumerate(labels) if s == c]]
        mc = xc.mean(0)
        within += (xc - mc).T @ (xc - mc)
        between += len(xc) * torch.outer(mc - mean, mc - mean)
    within /= len(xd)
    between /= len(xd)
    within += reg * within.diagonal().mean() * torch.eye(d, dtype=torch.float64)
    ev, vec = torch.linalg.eigh(within)
    whiten = vec / ev.sqrt()
    _, u = torch.linalg.eigh(whiten.T @ between @ whiten)  # ascending eigenvalues
    proj = whiten @ u[:, -(len(classes) - 1) :]
    return mean.float(), proj.float()


def nearest_product_accuracy(emb: torch.Tensor, labels: list[str], n_refs: int) -> float:
    """Share of tray crops whose nearest reference photo shows their product (a sanity figure)."""
    refs, items = emb[:n_refs], emb[n_refs:]
    nearest = (items @ refs.T).argmax(1).tolist()
    hits = sum(labels[n_refs + i] == labels[j] for i, j in enumerate(nearest))
    return hits / max(1, len(nearest))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m tools.recognition.metric")
    ap.add_argument("--trays", type=int, default=150)
    ap.add_argument("--out", type=Path, default=DEFAULT_METRIC)
    a = ap.parse_args(argv)
    seed = SEEDS["development"]
    print(f"development split: seed {seed}, {a.trays} trays")
    crops, scales, skus = collect(a.trays, seed)
    n_refs = len(catalog_skus()) * 5
    bare = ColourTextureEmbedder()
    with torch.inference_mode():
        x = bare.describe(crops, scales)
        mean, proj = fit_lda(x, skus, REGULARIZATION)
        metric = {"mean": mean, "proj": proj, "alpha": ALPHA}
        before = nearest_product_accuracy(bare(crops, scales), skus, n_refs)
        after = nearest_product_accuracy(ColourTextureEmbedder(metric)(crops, scales), skus, n_refs)
    artefact = {
        **metric,
        "fitted_on": {
            "split": "development",
            "seed": seed,
            "trays": a.trays,
            "item_crops": len(skus) - n_refs,
            "reference_crops": n_refs,
            "regularization": REGULARIZATION,
        },
    }
    buf = io.BytesIO()
    torch.save(artefact, buf)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_bytes(buf.getvalue())
    print(
        f"wrote {a.out}: {x.shape[1]} -> {proj.shape[1]} discriminant dims, alpha {ALPHA}; "
        f"nearest reference photo right for {before:.4f} of the fitted crops before, "
        f"{after:.4f} after"
    )


if __name__ == "__main__":
    main()
