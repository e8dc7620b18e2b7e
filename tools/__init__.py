"""Developer tools: never shipped, never imported by production code."""
