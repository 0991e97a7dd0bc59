// Prometheus text exposition (format 0.0.4) of the samples modules report, and
// the process metrics the API adds itself. Pure formatting: no I/O except the
// /proc and statvfs reads in collect_process_metrics and collect_disk_metrics.
#pragma once

#include <string>
#include <string_view>

#include "core/metrics.hpp"

namespace ib::api {

inline constexpr std::string_view kPrometheusContentType = "text/plain; version=0.0.4";

// Groups samples by name in order of first appearance; each name gets one
// "# HELP" and one "# TYPE" line (from its first sample), then its samples.
std::string format_prometheus(const MetricSink& sink);

// One label pair with its value escaped as the format requires (\\, \", \n):
// prometheus_label("listener", "a\"b") == R"(listener="a\"b")".
std::string prometheus_label(std::string_view name, std::string_view value);

// ib_process_resident_memory_bytes, ib_process_start_time_seconds and
// ib_process_cpu_seconds_total; a sample is left out if its source is unreadable.
void collect_process_metrics(MetricSink& sink);

// ib_data_dir_available_bytes and ib_data_dir_size_bytes: the file system that
// holds `data_dir` (statvfs(3)), so an alert sees the disk fill before SQLite
// fails; left out when it cannot be read.
void collect_disk_metrics(const std::string& data_dir, MetricSink& sink);

}  // namespace ib::api
