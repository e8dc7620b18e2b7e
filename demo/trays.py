"""The demo's trays: fixtures/trays/<name>/frame-*.{png,jpg}, one folder per tray.

`python -m demo.trays` redraws them. Each frame carries a mock-mode marker (docs/ai-contract.md)
so the mock AI answers a known decision; the real pipeline ignores the marker and looks.
"""

from __future__ import annotations

import base64
import random
from pathlib import Path

TRAYS_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "trays"

# name → (mock marker, frames)
DEMO_TRAYS = {
    "01-morning-coffee": ("AUTO CROISSANT*2 SALT-BREAD", 2),
    "02-bagel-lookalikes": ("REVIEW BAGEL-PLAIN BAGEL-SESAME*2", 2),
    "03-new-pastry": ("UNKNOWN MADELEINE NEW-PASTRY", 1),
    "04-family-box": ("AUTO DONUT-GLAZED*3 CREAM-BUN*2 RED-BEAN-BUN", 3),
}


DEMO_BAKERY_TRAYS = 5
REFERENCE_PHOTOS = 3  # per product; registration takes at most five


def bakery_trays(skus: list[str]) -> list[tuple[str, list[str], dict[str, int]]]:
    """Generated trays for the real pipeline: [(name, [base64 frame, …], true counts)]."""
    from fixtures.bakery import SEEDS, make_tray

    trays = []
    for index in range(DEMO_BAKERY_TRAYS):
        tray = make_tray(SEEDS["samples"], index, skus, n_items=(2, 8), n_frames=(2, 2))
        frames = [base64.b64encode(jpeg).decode() for jpeg in tray.jpegs]
        trays.append((f"bakery-{index}", frames, tray.counts))
    # a customer adds to the tray between the two frames: the frames disagree on the counts, so
    # staff review it (and their answer teaches the AI the items of the final frame)
    before, after = (
        make_tray(SEEDS["samples"], DEMO_BAKERY_TRAYS + k, skus, n_items=(n, n), n_frames=(1, 1))
        for k, n in ((0, 3), (1, 4))
    )
    frames = [base64.b64encode(t.jpegs[0]).decode() for t in (before, after)]
    trays.append(("bakery-moved", frames, after.counts))
    return trays


def reference_photos(sku: str) -> list[str]:
    """The product's reference photos, as staff would shoot them: one item alone on the tray."""
    from fixtures.bakery import SEEDS, make_reference

    return [
        base64.b64encode(make_reference(SEEDS["references"], sku, k)).decode()
        for k in range(REFERENCE_PHOTOS)
    ]


def load_trays(directory: Path = TRAYS_DIR) -> list[tuple[str, list[str]]]:
    """[(tray name, [base64 frame, …])], sorted by name."""
    trays = []
    for tray in sorted(p for p in directory.iterdir() if p.is_dir()):
        frames = sorted(p for p in tray.iterdir() if p.suffix.lower() in {".png", ".jpg", ".jpeg"})
        if frames:
            trays.append((tray.name, [base64.b64encode(f.read_bytes()).decode() for f in frames]))
    if not trays:
        raise FileNotFoundError(f"no tray folders with frames under {directory}")
    return trays


def draw(directory: Path = TRAYS_DIR) -> None:
    """Draw the demo trays: a plain tray with bread-coloured shapes, one marker per frame."""
    from PIL import Image, ImageDraw, PngImagePlugin

    for name, (marker, frame_count) in DEMO_TRAYS.items():
        rng = random.Random(name)
        shapes = [
            (rng.randint(30, 250), rng.randint(30, 170), rng.randint(25, 45)) for _ in range(5)
        ]
        folder = directory / name
        folder.mkdir(parents=True, exist_ok=True)
        for frame in range(frame_count):
            image = Image.new("RGB", (320, 240), (236, 236, 230))
            pen = ImageDraw.Draw(image)
            for x, y, r in shapes:
                dx = frame * 3  # a slightly different viewpoint per frame
                pen.ellipse(
                    (x + dx, y, x + dx + 2 * r, y + r + 10),
                    fill=(196, 142, 74),
                    outline=(120, 80, 40),
                )
            info = PngImagePlugin.PngInfo()
            info.add_text("bakesight-mock", marker)
            image.save(folder / f"frame-{frame}.png", pnginfo=info, optimize=True)


if __name__ == "__main__":
    draw()
    print(f"drew {len(DEMO_TRAYS)} trays under {TRAYS_DIR}")
