"""Limits both services enforce, defined once so a change reaches both."""

# A new product needs no retraining and at most five reference photos.
MAX_PHOTOS = 5
# Frames per tray: one to a few views of the same tray.
MAX_FRAMES = 4
# Pieces of one product on one tray: more is a broken answer (or a broken count), not a tray.
MAX_ITEM_COUNT = 100
# A counter's id at the AI (a tray's counter, a captured background): 1-64 letters, digits, - or _,
# starting with a letter or digit, so it is safe in a URL path and a file name. Central sends
# "s{store id}-{counter}", since its counter ids are unique per store only.
COUNTER_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}"
# A store's id at the AI: each store has its own gallery of reference photos (and its own limit of
# MAX_PHOTOS per product). 1-64 letters, digits, - or _. Central sends str(its store id); a request
# that names no store is the store DEFAULT_STORE, for single-store tools.
STORE_ID_PATTERN = r"[A-Za-z0-9_-]{1,64}"
DEFAULT_STORE = "default"
# A reference photo's id, as the AI gives it and Central forwards it in a URL path.
PHOTO_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}"
# Pixels per frame or photo (width × height): a 4096×4096 capture decodes to 48 MiB of RGB.
MAX_FRAME_PIXELS = 4096 * 4096
