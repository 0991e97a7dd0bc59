#include "api/prometheus.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace ib::api {
namespace {

TEST(Prometheus, GroupsSamplesByNameWithOneHelpAndType) {
    MetricSink sink;
    sink.push_back({"ib_a_total", "A things.", MetricType::Counter, R"(listener="x")", 1});
    sink.push_back({"ib_b", "B level.", MetricType::Gauge, "", 2.5});
    sink.push_back({"ib_a_total", "A things.", MetricType::Counter, R"(listener="y")", 3});
    EXPECT_EQ(format_prometheus(sink),
              "# HELP ib_a_total A things.\n"
              "# TYPE ib_a_total counter\n"
              "ib_a_total{listener=\"x\"} 1\n"
              "ib_a_total{listener=\"y\"} 3\n"
              "# HELP ib_b B level.\n"
              "# TYPE ib_b gauge\n"
              "ib_b 2.5\n");
}

TEST(Prometheus, EmptySinkIsEmptyText) { EXPECT_EQ(format_prometheus({}), ""); }

TEST(Prometheus, HelpEscapesBackslashAndNewline) {
    MetricSink sink{{"m", "line one\nback\\slash", MetricType::Gauge, "", 0}};
    EXPECT_EQ(format_prometheus(sink), "# HELP m line one\\nback\\\\slash\n# TYPE m gauge\nm 0\n");
}

TEST(Prometheus, ValuesUseTheFormatsSpelling) {
    MetricSink sink{{"m", "h", MetricType::Gauge, "", std::numeric_limits<double>::infinity()},
                    {"m", "h", MetricType::Gauge, "", -std::numeric_limits<double>::infinity()},
                    {"m", "h", MetricType::Gauge, "", std::nan("")},
                    {"m", "h", MetricType::Gauge, "", 12345678901.0},
                    {"m", "h", MetricType::Gauge, "", -0.125},
                    {"m", "h", MetricType::Gauge, "", 1e300}};
    EXPECT_EQ(format_prometheus(sink),
              "# HELP m h\n# TYPE m gauge\nm +Inf\nm -Inf\nm NaN\nm 12345678901\nm -0.125\nm 1e+300\n");
}

TEST(Prometheus, LabelValuesAreEscaped) {
    EXPECT_EQ(prometheus_label("topic", "a\"b\\c\nd"), R"(topic="a\"b\\c\nd")");
    EXPECT_EQ(prometheus_label("code", "200"), R"(code="200")");
}

TEST(Prometheus, ProcessMetricsArePresentAndPlausible) {
    MetricSink sink;
    collect_process_metrics(sink);
    auto find = [&](std::string_view name) -> const MetricSample* {
        for (const auto& s : sink) {
            if (s.name == name) return &s;
        }
        return nullptr;
    };
    const MetricSample* rss = find("ib_process_resident_memory_bytes");
    const MetricSample* start = find("ib_process_start_time_seconds");
    const MetricSample* cpu = find("ib_process_cpu_seconds_total");
    ASSERT_NE(rss, nullptr);
    ASSERT_NE(start, nullptr);
    ASSERT_NE(cpu, nullptr);
    EXPECT_GT(rss->value, 1024.0);
    EXPECT_EQ(rss->type, MetricType::Gauge);
    EXPECT_GT(start->value, 1.5e9);  // after 2017: a Unix time, not ticks since boot
    EXPECT_EQ(cpu->type, MetricType::Counter);
    EXPECT_GE(cpu->value, 0.0);
}

}  // namespace
}  // namespace ib::api
