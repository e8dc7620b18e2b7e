"""Limits both services enforce, defined once so a change reaches both."""

# A new product needs no retraining and at most five reference photos.
MAX_PHOTOS = 5
# Frames per tray: one to a few views of the same tray.
MAX_FRAMES = 4
# Pieces of one product on one tray: more is a broken answer (or a broken count), not a tray.
MAX_ITEM_COUNT = 100
# Pixels per frame or photo (width × height): a 4096×4096 capture decodes to 48 MiB of RGB.
MAX_FRAME_PIXELS = 4096 * 4096
