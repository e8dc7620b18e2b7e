"""/metrics on the AI service: requests by route template, recognition stages and decisions."""

from __future__ import annotations

import dataclasses
import re

from ai.mock import MockRecognizer
from tests.ai import images
from tests.ai.conftest import AUTH, infer


def sample(metrics: str, name: str, **labels: str) -> float:
    """One sample's value from the text exposition; 0 when the series is absent."""
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    match = re.search(rf"^{re.escape(name)}\{{{re.escape(wanted)}\}} (\S+)$", metrics, re.M)
    return float(match.group(1)) if match else 0.0


def test_metrics_show_per_stage_histograms_after_an_infer_in_mock_mode(client):
    before = client.get("/metrics").text
    assert sample(before, "ai_recognition_stage_seconds_count", stage="total") == 0
    assert sample(before, "ai_decisions_total", decision="AUTO") == 0

    assert infer(client, [images.jpeg(), images.png()]).status_code == 200
    assert infer(client, [images.png(marker="REVIEW")]).status_code == 200

    after = client.get("/metrics").text
    for stage in ("decode", "recognize", "total"):
        assert sample(after, "ai_recognition_stage_seconds_count", stage=stage) == 2, stage
        assert sample(after, "ai_recognition_stage_seconds_bucket", le="+Inf", stage=stage) == 2
    assert sample(after, "ai_recognition_stage_seconds_sum", stage="total") > 0
    assert sample(after, "ai_decisions_total", decision="AUTO") == 1
    assert sample(after, "ai_decisions_total", decision="REVIEW") == 1
    assert (
        sample(after, "ai_http_requests_total", method="POST", route="/v1/infer", status="200") == 2
    )


def test_requests_are_counted_by_route_template_not_by_path(client):
    for sku in ("SCONE", "BAGEL-PLAIN", "CROISSANT"):
        assert client.get(f"/v1/products/{sku}/photos", headers=AUTH).status_code == 200
    client.get("/v1/products/SCONE/photos")  # no key: 401, still counted

    metrics = client.get("/metrics").text
    route = "/v1/products/{sku}/photos"
    assert sample(metrics, "ai_http_requests_total", method="GET", route=route, status="200") == 3
    assert sample(metrics, "ai_http_requests_total", method="GET", route=route, status="401") == 1
    assert "SCONE" not in metrics


def test_metrics_need_no_key_and_every_other_route_still_does(client):
    assert client.get("/metrics").status_code == 200
    assert client.get("/metrics").headers["content-type"].startswith("text/plain")
    assert client.get("/ready").status_code == 401
    assert client.post("/v1/feedback", json={}).status_code == 401


class _StagedMock(MockRecognizer):
    """The mock reporting the real pipeline's stage names (and one no series is kept for)."""

    def postprocess(self, raw, request):
        recognition = super().postprocess(raw, request)
        stages = {"preprocess": 3.0, "segment": 12.0, "embed": 40.0, "match": 0.5, "fuse": 1.0}
        return dataclasses.replace(recognition, timings_ms={**stages, "debug_extra": 1.0})


def test_the_pipelines_stages_each_get_a_histogram_and_unknown_names_none(make_client):
    client = make_client(_StagedMock())

    assert infer(client, [images.png()]).status_code == 200

    metrics = client.get("/metrics").text
    for stage in ("decode", "preprocess", "segment", "embed", "match", "fuse", "total"):
        assert sample(metrics, "ai_recognition_stage_seconds_count", stage=stage) == 1, stage
    assert sample(metrics, "ai_recognition_stage_seconds_sum", stage="embed") == 0.04
    assert "debug_extra" not in metrics
