// The health inspection's checks evaluated on hand-made snapshots: what passes,
// what warns, what fails, the score's weights and the table `ironbridge inspect`
// prints from the JSON.
#include <gtest/gtest.h>

#include <numeric>

#include "app/inspect_cli.hpp"
#include "app/inspection.hpp"

namespace ib::app::inspection {
namespace {

constexpr int64_t kNow = 1'780'000'000'000;  // 2026

MetricSample gauge(std::string name, std::string labels, double v) {
    return {std::move(name), "", MetricType::Gauge, std::move(labels), v};
}

// A healthy node: disk, host, a connected bridge with an empty queue, a device.
Inputs healthy() {
    Inputs in;
    in.now.at_ms = kNow;
    in.started_ms = kNow - 3'600'000;
    in.now.samples = {
        gauge("ib_data_dir_available_bytes", "", 50e9),
        gauge("ib_data_dir_size_bytes", "", 100e9),
        gauge("ib_bridge_connected", "bridge=\"cloud\"", 1),
        gauge("ib_bridge_connects_total", "bridge=\"cloud\"", 1),
        gauge("ib_bridge_backlog_bytes", "bridge=\"cloud\"", 0),
        gauge("ib_bridge_backlog_messages", "bridge=\"cloud\"", 0),
        gauge("ib_device_tags", "device=\"plc1\"", 10),
        gauge("ib_device_connected", "device=\"plc1\"", 1),
        gauge("ib_device_requests_total", "device=\"plc1\"", 1000),
        gauge("ib_rule_running", "rule=\"hot\"", 1),
    };
    in.bridges = {{"cloud", 1ull << 30}};
    remember_bridges(in.bridge_memory, in.now, in.started_ms);
    in.integrity = {true, kNow, {"ironbridge.db"}, {}};
    in.host = {8e9, 16e9, 40, 1024, kNow, true};
    in.security.api_bind_address = "127.0.0.1";
    in.security.api_anonymous = true;
    in.security.listeners = {{"default", "127.0.0.1", false, true}};
    return in;
}

Check check(const Report& r, std::string_view id) {
    for (const auto& c : r.checks) {
        if (c.id == id) return c;
    }
    throw std::runtime_error("no check " + std::string(id));
}

TEST(Inspection, WeightsAddToOneHundredAndEveryCheckIsReported) {
    int sum = 0;
    for (const auto& w : kChecks) sum += w.weight;
    EXPECT_EQ(sum, 100);
    const Report r = evaluate(healthy());
    ASSERT_EQ(r.checks.size(), std::size(kChecks));
    for (std::size_t i = 0; i < r.checks.size(); ++i) EXPECT_EQ(r.checks[i].id, kChecks[i].id);
}

TEST(Inspection, HealthyNodePassesEveryCheckWithScore100) {
    const Report r = evaluate(healthy());
    for (const auto& c : r.checks) {
        EXPECT_EQ(c.status, Status::Pass) << c.id << ": " << c.value;
        EXPECT_TRUE(c.advice.empty()) << c.id;
    }
    EXPECT_EQ(r.score, 100);
    EXPECT_EQ(check(r, "config_drift").value, "no fleet");
    EXPECT_EQ(check(r, "cloud_link").value, "1/1 connected, last connect 0 s ago");
}

TEST(Inspection, BridgeNeverConnectedFailsCloudLinkWithAdvice) {
    Inputs in = healthy();
    in.bridge_memory.clear();
    in.now.samples[2].value = 0;  // connected
    in.now.samples[3].value = 0;  // connects
    remember_bridges(in.bridge_memory, in.now, in.started_ms);
    const Report r = evaluate(in);
    const Check c = check(r, "cloud_link");
    EXPECT_EQ(c.status, Status::Fail);
    EXPECT_NE(c.value.find("'cloud' down for 60 min (never connected since start)"), std::string::npos) << c.value;
    EXPECT_NE(c.advice.find("[[bridges]] servers"), std::string::npos);
    EXPECT_NE(c.advice.find("GET /api/v1/bridges/cloud lists"), std::string::npos) << c.advice;
    EXPECT_EQ(r.score, 85);
}

TEST(Inspection, FlappingBridgeWarns) {
    Inputs in = healthy();
    for (int i = 2; i <= 5; ++i) {
        in.now.at_ms += 60'000;
        in.now.samples[3].value = i;
        remember_bridges(in.bridge_memory, in.now, in.started_ms);
    }
    const Check c = check(evaluate(in), "cloud_link");
    EXPECT_EQ(c.status, Status::Warn);
    EXPECT_NE(c.value.find("connected 4 times in the last hour"), std::string::npos) << c.value;
}

TEST(Inspection, BacklogGrowingTowardsFullWarnsThenFails) {
    Inputs in = healthy();
    in.previous = in.now;
    in.now.at_ms += 3'600'000;
    // 100 MiB an hour into a 1 GiB queue holding 200 MiB: full in 8.2 h.
    in.now.samples[4].value = 200.0 * 1024 * 1024;
    in.previous->samples[4].value = 100.0 * 1024 * 1024;
    Check c = check(evaluate(in), "backlog");
    EXPECT_EQ(c.status, Status::Warn) << c.value;
    EXPECT_NE(c.value.find("full in 8.2 h"), std::string::npos) << c.value;
    EXPECT_NE(c.advice.find("max_queue_bytes"), std::string::npos);
    in.now.samples[4].value = 0.95 * (1ull << 30);
    c = check(evaluate(in), "backlog");
    EXPECT_EQ(c.status, Status::Fail) << c.value;
}

TEST(Inspection, DiskNearlyFullFails) {
    Inputs in = healthy();
    in.now.samples[0].value = 100e6;
    const Check c = check(evaluate(in), "disk");
    EXPECT_EQ(c.status, Status::Fail);
    EXPECT_NE(c.advice.find("data_dir"), std::string::npos);
}

TEST(Inspection, DamagedDatabaseFailsIntegrity) {
    Inputs in = healthy();
    in.integrity.problems = {"history.db: database disk image is malformed"};
    const Check c = check(evaluate(in), "sqlite_integrity");
    EXPECT_EQ(c.status, Status::Fail);
    EXPECT_EQ(c.value, "history.db: database disk image is malformed");
    EXPECT_NE(c.advice.find(".recover"), std::string::npos);
}

TEST(Inspection, DeviceErrorsSincePreviousSnapshotWarnAndNameTheDevice) {
    Inputs in = healthy();
    in.previous = in.now;
    in.previous->at_ms -= 30'000;
    in.now.samples.push_back(gauge("ib_device_errors_total", "device=\"plc1\",kind=\"timeout\"", 3));
    in.now.samples.push_back(gauge("ib_device_poll_overruns_total", "device=\"plc1\"", 2));
    in.now.samples[8].value = 1100;  // requests
    const Check c = check(evaluate(in), "devices");
    EXPECT_EQ(c.status, Status::Warn);
    EXPECT_NE(c.value.find("'plc1' (3 errors, 2 overruns)"), std::string::npos) << c.value;
    EXPECT_NE(c.value.find("in the last 30 s"), std::string::npos) << c.value;
}

TEST(Inspection, DisconnectedDeviceMakesItsTagsStale) {
    Inputs in = healthy();
    in.now.samples.push_back(gauge("ib_device_tags", "device=\"meter\"", 5));
    in.now.samples.push_back(gauge("ib_device_connected", "device=\"meter\"", 0));
    Check c = check(evaluate(in), "stale_tags");
    EXPECT_EQ(c.status, Status::Warn);
    EXPECT_EQ(c.value, "5 of 15 tags stale (devices not connected: 'meter')");
    in.now.samples[7].value = 0;  // plc1 down too
    c = check(evaluate(in), "stale_tags");
    EXPECT_EQ(c.status, Status::Fail);
}

TEST(Inspection, StoppedRuleFailsAndFailingRuleWarns) {
    Inputs in = healthy();
    in.now.samples.push_back(gauge("ib_rule_errors_total", "rule=\"hot\",kind=\"eval\"", 4));
    Check c = check(evaluate(in), "rules");
    EXPECT_EQ(c.status, Status::Warn);
    EXPECT_NE(c.value.find("'hot' (4 failed messages)"), std::string::npos) << c.value;
    in.now.samples[9].value = 0;
    c = check(evaluate(in), "rules");
    EXPECT_EQ(c.status, Status::Fail);
}

TEST(Inspection, DropsForSlowSubscribersWarn) {
    Inputs in = healthy();
    in.now.samples.push_back(gauge("ib_mqtt_messages_dropped_total", "reason=\"queue_full_qos0\"", 12));
    in.now.samples.push_back(gauge("ib_mqtt_messages_dropped_total", "reason=\"expired\"", 5));
    const Check c = check(evaluate(in), "broker");
    EXPECT_EQ(c.status, Status::Warn);
    EXPECT_NE(c.value.find("12 messages dropped for slow subscribers, 17 in all"), std::string::npos) << c.value;
}

TEST(Inspection, AnonymousListenerBeyondLoopbackWarnsAndOpenApiFails) {
    Inputs in = healthy();
    in.security.listeners = {{"default", "0.0.0.0", false, true}};
    Check c = check(evaluate(in), "security");
    EXPECT_EQ(c.status, Status::Warn);
    EXPECT_NE(c.value.find("listener 'default' on 0.0.0.0 accepts anonymous clients"), std::string::npos);
    EXPECT_NE(c.advice.find("allow_anonymous = false"), std::string::npos);
    in.security.api_bind_address = "0.0.0.0";
    c = check(evaluate(in), "security");
    EXPECT_EQ(c.status, Status::Fail);
    EXPECT_NE(c.advice.find("api.allow_anonymous = false"), std::string::npos);
}

TEST(Inspection, CertificateExpiringWithin30DaysWarnsExpiredFails) {
    Inputs in = healthy();
    in.security.certificates = {{"api.tls_cert", "/etc/ib/api.pem", kNow + 10 * 86'400'000LL, ""}};
    Check c = check(evaluate(in), "certificates");
    EXPECT_EQ(c.status, Status::Warn);
    EXPECT_EQ(c.value, "api.tls_cert (/etc/ib/api.pem) expires in 10 d");
    in.security.certificates[0].not_after_ms = kNow - 1000;
    c = check(evaluate(in), "certificates");
    EXPECT_EQ(c.status, Status::Fail);
}

TEST(Inspection, HostOutOfFilesOrWithAWrongClockFails) {
    Inputs in = healthy();
    in.host.open_files = 1000;
    Check c = check(evaluate(in), "host");
    EXPECT_EQ(c.status, Status::Fail);
    EXPECT_NE(c.advice.find("LimitNOFILE"), std::string::npos);
    in = healthy();
    in.host.wall_clock_ms = 1'000'000'000'000;  // 2001
    c = check(evaluate(in), "host");
    EXPECT_EQ(c.status, Status::Fail);
}

TEST(Inspection, FleetDriftWarnsAndARollbackFails) {
    Inputs in = healthy();
    in.fleet = FleetFacts{12, 13, "", ""};
    EXPECT_EQ(check(evaluate(in), "config_drift").status, Status::Warn);
    in.fleet = FleetFacts{12, 13, "rolled_back", "cloud link lost during the probe"};
    const Check c = check(evaluate(in), "config_drift");
    EXPECT_EQ(c.status, Status::Fail);
    EXPECT_EQ(c.value, "applied revision 12, desired 13, last apply rolled_back (cloud link lost during the probe)");
}

TEST(Inspection, ScoreTakesTheWeightOfAFailureAndHalfOfAWarning) {
    std::vector<Check> checks = {{"cloud_link", Status::Fail, "", "", ""}, {"backlog", Status::Warn, "", "", ""}};
    EXPECT_EQ(score_of(checks), 80);
}

TEST(Inspection, LabelValueReadsEscapedValues) {
    EXPECT_EQ(label_value(R"(bridge="cloud",kind="x")", "kind"), "x");
    EXPECT_EQ(label_value(R"(device="a\"b")", "device"), "a\"b");
    EXPECT_EQ(label_value(R"(device="a")", "rule"), "");
}

TEST(Inspection, JsonAndGaugesCarryEveryCheck) {
    Inputs in = healthy();
    in.security.listeners = {{"default", "0.0.0.0", true, true}};
    const Report r = evaluate(in);
    const std::string json = to_json(r);
    EXPECT_TRUE(json.starts_with("{\"score\":95,\"ts\":1780000000000,\"checks\":[{\"id\":\"cloud_link\""));
    MetricSink sink;
    add_report_metrics(r, sink);
    ASSERT_EQ(sink.size(), 1 + std::size(kChecks));
    EXPECT_EQ(sink[0].name, "ib_health_score");
    EXPECT_EQ(sink[0].value, 95);
    bool seen = false;
    for (const auto& s : sink) {
        if (s.labels == "check=\"security\"") {
            seen = true;
            EXPECT_EQ(s.value, 1);
        }
    }
    EXPECT_TRUE(seen);
}

TEST(InspectTable, PrintsAdviceOfChecksThatDoNotPassAndExitsByTheWorst) {
    Inputs in = healthy();
    in.security.listeners = {{"default", "0.0.0.0", true, true}};
    auto t = format_inspection(to_json(evaluate(in)));
    EXPECT_EQ(t.exit_code, kInspectWarn);
    EXPECT_NE(t.text.find("WARN   security          listener 'default' on 0.0.0.0 accepts anonymous"), std::string::npos)
        << t.text;
    EXPECT_NE(t.text.find("advice: To do: set allow_anonymous = false"), std::string::npos) << t.text;
    EXPECT_NE(t.text.find("score: 95/100"), std::string::npos);
    EXPECT_EQ(format_inspection(to_json(evaluate(healthy()))).exit_code, kInspectPass);
    EXPECT_EQ(format_inspection("<html>").exit_code, kInspectUnreachable);
}

}  // namespace
}  // namespace ib::app::inspection
