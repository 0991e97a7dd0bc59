#!/usr/bin/python3
"""Writes ironbridge.json, the Grafana dashboard (schema 36, Grafana 9/10), from
the panel list below, so panels stay uniform and the file is reviewed as data.
Run it after changing a panel: /usr/bin/python3 deploy/grafana/make_dashboard.py"""

import json
import os

# (title, unit, [(PromQL, legend)]): one row of panels per section.
SECTIONS = [
    ("Broker", [
        ("Connections", "short", [("sum by (instance, listener) (ib_mqtt_connections{instance=~\"$instance\"})",
                                   "{{instance}} {{listener}}")]),
        ("Messages in / out", "ops", [
            ("sum by (instance) (rate(ib_mqtt_messages_received_total{instance=~\"$instance\"}[$__rate_interval]))",
             "{{instance}} in"),
            ("sum by (instance) (rate(ib_mqtt_messages_sent_total{instance=~\"$instance\"}[$__rate_interval]))",
             "{{instance}} out")]),
        ("Bytes in / out", "Bps", [
            ("rate(ib_mqtt_bytes_received_total{instance=~\"$instance\"}[$__rate_interval])", "{{instance}} in"),
            ("rate(ib_mqtt_bytes_sent_total{instance=~\"$instance\"}[$__rate_interval])", "{{instance}} out")]),
        ("Dropped and malformed", "ops", [
            ("sum by (instance, reason) (rate(ib_mqtt_messages_dropped_total{instance=~\"$instance\"}[$__rate_interval]))",
             "{{instance}} dropped {{reason}}"),
            ("rate(ib_mqtt_malformed_packets_total{instance=~\"$instance\"}[$__rate_interval])",
             "{{instance}} malformed")]),
    ]),
    ("Devices", [
        ("Polls", "ops", [("sum by (instance, device) (rate(ib_device_polls_total{instance=~\"$instance\"}[$__rate_interval]))",
                           "{{instance}} {{device}}")]),
        ("Errors", "ops", [
            ("sum by (instance, device, kind) (rate(ib_device_errors_total{instance=~\"$instance\"}[$__rate_interval]))",
             "{{instance}} {{device}} {{kind}}"),
            ("sum by (instance, device) (rate(ib_device_tag_errors_total{instance=~\"$instance\"}[$__rate_interval]))",
             "{{instance}} {{device}} tag errors")]),
        ("Connected", "short", [("ib_device_connected{instance=~\"$instance\"}", "{{instance}} {{device}}")]),
        ("Round trip", "s", [(
            "rate(ib_device_round_trip_seconds_sum{instance=~\"$instance\"}[$__rate_interval])"
            " / rate(ib_device_round_trip_seconds_count{instance=~\"$instance\"}[$__rate_interval])",
            "{{instance}} {{device}}")]),
    ]),
    ("Rules", [
        ("Messages in / rows out", "ops", [
            ("sum by (instance, rule) (rate(ib_rule_messages_in_total{instance=~\"$instance\"}[$__rate_interval]))",
             "{{instance}} {{rule}} in"),
            ("sum by (instance, rule) (rate(ib_rule_rows_out_total{instance=~\"$instance\"}[$__rate_interval]))",
             "{{instance}} {{rule}} out")]),
        ("Errors", "ops", [
            ("sum by (instance, rule, kind) (rate(ib_rule_errors_total{instance=~\"$instance\"}[$__rate_interval]))",
             "{{instance}} {{rule}} {{kind}}")]),
        ("Latency (max)", "µs", [("ib_rule_latency_max_microseconds{instance=~\"$instance\"}", "{{instance}} {{rule}}")]),
    ]),
    ("Bridges", [
        ("Connected", "short", [("ib_bridge_connected{instance=~\"$instance\"}", "{{instance}} {{bridge}}")]),
        ("Backlog", "short", [("ib_bridge_backlog_messages{instance=~\"$instance\"}", "{{instance}} {{bridge}}")]),
        ("Oldest in backlog", "s", [("ib_bridge_oldest_backlog_age_seconds{instance=~\"$instance\"}",
                                      "{{instance}} {{bridge}}")]),
        ("Taken / acknowledged (drain)", "ops", [
            ("rate(ib_bridge_messages_taken_total{instance=~\"$instance\"}[$__rate_interval])",
             "{{instance}} {{bridge}} taken"),
            ("rate(ib_bridge_messages_acked_total{instance=~\"$instance\"}[$__rate_interval])",
             "{{instance}} {{bridge}} acked")]),
        ("Dropped", "ops", [
            ("sum by (instance, bridge, reason) (rate(ib_bridge_messages_dropped_total{instance=~\"$instance\"}[$__rate_interval]))",
             "{{instance}} {{bridge}} {{reason}}")]),
    ]),
    ("Node", [
        ("Resident memory", "bytes", [("ib_process_resident_memory_bytes{instance=~\"$instance\"}", "{{instance}}")]),
        ("CPU", "percentunit", [("rate(ib_process_cpu_seconds_total{instance=~\"$instance\"}[$__rate_interval])",
                                 "{{instance}}")]),
        ("data_dir disk free", "percentunit", [
            ("ib_data_dir_available_bytes{instance=~\"$instance\"} / ib_data_dir_size_bytes{instance=~\"$instance\"}",
             "{{instance}}")]),
        ("Queue and history files", "bytes", [
            ("ib_bridge_queue_file_bytes{instance=~\"$instance\"}", "{{instance}} bridge {{bridge}}"),
            ("ib_history_db_bytes{instance=~\"$instance\"}", "{{instance}} history")]),
    ]),
]


def panel(pid, title, unit, targets, x, y):
    return {
        "id": pid, "type": "timeseries", "title": title,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": 8, "w": 6, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                    "tooltip": {"mode": "multi", "sort": "none"}},
        "targets": [{"refId": chr(ord("A") + i), "expr": expr, "legendFormat": legend,
                     "datasource": {"type": "prometheus", "uid": "${datasource}"}}
                    for i, (expr, legend) in enumerate(targets)],
    }


def dashboard():
    panels, pid, y = [], 1, 0
    for name, row in SECTIONS:
        panels.append({"id": pid, "type": "row", "title": name, "collapsed": False,
                       "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
        pid, y = pid + 1, y + 1
        for i, (title, unit, targets) in enumerate(row):
            panels.append(panel(pid, title, unit, targets, (i % 4) * 6, y + (i // 4) * 8))
            pid += 1
        y += ((len(row) + 3) // 4) * 8
    return {
        "title": "Ironbridge", "uid": "ironbridge", "schemaVersion": 36, "version": 1,
        "tags": ["ironbridge", "mqtt", "iiot"], "timezone": "", "editable": True,
        "time": {"from": "now-6h", "to": "now"}, "refresh": "30s",
        "templating": {"list": [
            {"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Data source"},
            {"name": "instance", "type": "query", "label": "Node", "multi": True, "includeAll": True,
             "datasource": {"type": "prometheus", "uid": "${datasource}"},
             "query": {"query": "label_values(ib_process_start_time_seconds, instance)", "refId": "instance"},
             "definition": "label_values(ib_process_start_time_seconds, instance)", "refresh": 2},
        ]},
        "annotations": {"list": []},
        "panels": panels,
    }


if __name__ == "__main__":
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ironbridge.json")
    with open(out, "w") as f:
        json.dump(dashboard(), f, indent=2, ensure_ascii=False)
        f.write("\n")
    print(out)
