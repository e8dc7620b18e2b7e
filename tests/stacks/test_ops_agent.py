"""The VM's Ops Agent configuration (stacks/ops_agent.yaml), read as the agent reads it.

The agent is not here, so its logging pipeline is replayed on the journal record the AI service's
real log lines make: the processors this file uses, in the pipeline's order, with the semantics
Google documents for them (an exclude_logs condition drops a matching record, parse_json replaces
the record with the JSON in `field`, modify_fields moves a jsonPayload field to the entry).
`logging.googleapis.com/trace` and `logging.googleapis.com/spanId` are special fields the agent
moves from the payload to the entry itself.
"""

from __future__ import annotations

import configparser
import io
import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from ai.settings import load_settings
from servicekit.correlation import Trace, trace_fields
from servicekit.logs import CloudLoggingFormatter
from stacks.ai_vm import OPS_AGENT_CONFIG

ROOT = Path(__file__).resolve().parents[2]
UNIT_FILE = ROOT / "systemd" / "ai-inference.service"
# The agent's built-in configuration, which a user file merges into (Linux).
BUILT_IN_RECEIVERS = {
    "syslog": {"type": "files", "include_paths": ["/var/log/messages", "/var/log/syslog"]},
}
SPECIAL_FIELDS = {
    "logging.googleapis.com/trace": "trace",
    "logging.googleapis.com/spanId": "spanId",
}


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return yaml.safe_load(OPS_AGENT_CONFIG.read_text())


def pipeline(config: dict[str, Any], signal: str, name: str) -> tuple[list[dict], list[dict]]:
    section = config[signal]
    wired = section["service"]["pipelines"][name]
    defined = {**BUILT_IN_RECEIVERS, **section["receivers"]}
    receivers = [defined[r] for r in wired["receivers"]]
    processors = [section["processors"][p] for p in wired.get("processors", [])]
    return receivers, processors


def excluded(condition: str, record: dict[str, Any]) -> bool:
    """One condition of the forms the file uses: `jsonPayload.F != "v"`, `jsonPayload.F:"s"`."""
    match = re.fullmatch(r'jsonPayload\.(\w+) *(!=|:) *"(.*)"', condition)
    assert match, f"the replay does not know this condition: {condition}"
    field, operator, value = match.groups()
    seen = str(record.get(field, ""))
    return seen.lower() != value.lower() if operator == "!=" else value in seen


def run_logging(processors: list[dict], record: dict[str, Any]) -> dict[str, Any] | None:
    """The entry the agent writes for one journal record, or None if it drops the record."""
    entry: dict[str, Any] = {}
    payload = dict(record)
    for processor in processors:
        kind = processor["type"]
        if kind == "exclude_logs":
            if any(excluded(c, payload) for c in processor["match_any"]):
                return None
        elif kind == "parse_json":
            try:
                payload = json.loads(payload[processor.get("field", "message")])
            except ValueError:
                pass  # left as it was
        elif kind == "modify_fields":
            for target, how in processor["fields"].items():
                source = how["move_from"].removeprefix("jsonPayload.")
                if source in payload:
                    entry[target] = payload.pop(source)
        else:
            raise AssertionError(f"the replay does not know processor {kind}")
    for field, target in SPECIAL_FIELDS.items():
        if field in payload:
            entry[target] = payload.pop(field)
    entry["jsonPayload"] = payload
    return entry


def ai_line(level: int, message: str, **extra: Any) -> str:
    """One line exactly as the AI service writes it to stdout (and so to journald)."""
    record = logging.LogRecord("ai.access", level, __file__, 1, message, None, None)
    record.__dict__.update(extra)
    return CloudLoggingFormatter().format(record)


def journal(line: str, unit: str = "ai-inference.service") -> dict[str, Any]:
    """The journal record systemd makes of a service's stdout line."""
    return {"MESSAGE": line, "_SYSTEMD_UNIT": unit, "PRIORITY": "6", "_PID": "4242"}


def test_the_ai_units_lines_become_entries_with_their_own_severity_and_trace(config) -> None:
    receivers, processors = pipeline(config, "logging", "ai_inference")
    assert [r["type"] for r in receivers] == ["systemd_journald"]
    trace = Trace("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", True, ("", ""))
    line = ai_line(
        logging.WARNING,
        "POST /v1/infer 413",
        request_id="req-1",
        httpRequest={"requestMethod": "POST", "status": 413, "latency": "0.002000s"},
        **trace_fields(trace, "bakesight-test"),
    )

    entry = run_logging(processors, journal(line))

    assert entry is not None
    assert entry["severity"] == "WARNING"
    assert entry["trace"] == "projects/bakesight-test/traces/4bf92f3577b34da6a3ce929d0e0e4736"
    assert entry["spanId"] == "00f067aa0ba902b7"
    payload = entry["jsonPayload"]
    assert payload["message"] == "POST /v1/infer 413" and payload["request_id"] == "req-1"
    assert payload["httpRequest"]["status"] == 413
    assert "severity" not in payload and "MESSAGE" not in payload


def test_other_units_lines_do_not_go_through_the_ai_pipeline(config) -> None:
    _, processors = pipeline(config, "logging", "ai_inference")
    line = ai_line(logging.ERROR, "not ours")

    assert run_logging(processors, journal(line, unit="google-startup-scripts.service")) is None


def test_a_line_that_is_not_json_still_arrives_as_the_journal_has_it(config) -> None:
    _, processors = pipeline(config, "logging", "ai_inference")

    entry = run_logging(processors, journal("Traceback (most recent call last):"))

    assert entry is not None
    assert entry["jsonPayload"]["MESSAGE"] == "Traceback (most recent call last):"


def test_the_pipeline_names_the_unit_and_the_identifier_the_unit_file_sets(config) -> None:
    unit = configparser.ConfigParser(strict=False)
    unit.read_string(UNIT_FILE.read_text())
    identifier = unit["Service"]["SyslogIdentifier"]
    _, processors = pipeline(config, "logging", "ai_inference")
    conditions = [c for p in processors if p["type"] == "exclude_logs" for c in p["match_any"]]
    assert conditions == [f'jsonPayload._SYSTEMD_UNIT != "{UNIT_FILE.name}"']
    # rsyslog's copy of the same line in /var/log/syslog is dropped from the built-in pipeline.
    receivers, syslog_processors = pipeline(config, "logging", "default_pipeline")
    assert receivers == [BUILT_IN_RECEIVERS["syslog"]]  # syslog itself is still shipped
    syslog_line = f"Dec  2 09:00:00 bake-sight-ai-01 {identifier}[4242]: " + ai_line(20, "hi")
    assert run_logging(syslog_processors, {"message": syslog_line}) is None
    other = "Dec  2 09:00:00 bake-sight-ai-01 kernel: NVRM: loading NVIDIA UNIX driver"
    assert run_logging(syslog_processors, {"message": other}) is not None


def test_metrics_scrape_the_ai_services_own_port_and_path(config) -> None:
    receivers, _ = pipeline(config, "metrics", "ai_inference")
    [receiver] = receivers
    assert receiver["type"] == "prometheus"
    [job] = receiver["config"]["scrape_configs"]
    port = load_settings({"AI_ADMIN_KEY": "k" * 32}).port
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"] == [{"targets": [f"localhost:{port}"]}]


def test_the_config_is_one_yaml_document_terraform_leaves_alone() -> None:
    text = OPS_AGENT_CONFIG.read_text()
    assert len(list(yaml.safe_load_all(io.StringIO(text)))) == 1
    assert "${" not in text and "%{" not in text
