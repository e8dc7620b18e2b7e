"""Limits both services enforce, defined once so a change reaches both."""

# A new product needs no retraining and at most five reference photos.
MAX_PHOTOS = 5
# Frames per tray: one to a few views of the same tray.
MAX_FRAMES = 4
