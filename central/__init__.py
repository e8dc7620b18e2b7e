"""Central: the store's source of truth for products, tray sessions, reviews and bills."""
