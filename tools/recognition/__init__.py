"""Recognition's development tools: bakery runs, metric fitting, calibration, eval, benchmarks.

They import the production pipeline (`ai.recognition`) and the generator (`fixtures.bakery`);
nothing under `ai/` imports them.
"""
