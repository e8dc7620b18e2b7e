"""The main job on one machine: Central and the AI service as real processes, and a counter."""
