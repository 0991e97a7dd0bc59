// A connection's way out for a protocol violation (Connection::protocol_violation):
// the documented reasons, and against a real Broker on 127.0.0.1 the reason code
// on the wire, an orderly end of stream and the counter by reason.
#include <utility>  // before Asio: Boost 1.74 coroutine headers need it

#include <gtest/gtest.h>

#include <cctype>
#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "mqtt/broker/broker.hpp"
#include "mqtt/broker/protocol_violation.hpp"
#include "net/loop_pool.hpp"
#include "test_client.hpp"

namespace ib::mqtt::broker {
namespace {

using namespace std::chrono_literals;
using codec::PacketType;
using codec::Version;
using test::TestClient;

TEST(ProtocolViolation, LabelsAreUniqueSnakeCaseAndCarryAnErrorReasonCode) {
    std::set<std::string_view> seen;
    for (const ViolationInfo& v : kViolations) {
        EXPECT_TRUE(seen.insert(v.label).second) << v.label;
        for (char ch : v.label) EXPECT_TRUE(std::islower(static_cast<unsigned char>(ch)) || ch == '_') << v.label;
        // 0: the transport answers; otherwise an error code (§2.4: 0x80 and above).
        EXPECT_TRUE(v.reason_code == 0 || v.reason_code >= 0x80) << v.label;
    }
    EXPECT_EQ(info(Violation::ReceiveMaximumExceeded).label, "receive_maximum_exceeded");
    EXPECT_EQ(info(Violation::ReceiveMaximumExceeded).reason_code, 0x93);
}

TEST(ProtocolViolation, DecodeErrorsMapToTheViolationOfTheirReasonCode) {
    EXPECT_EQ(violation_of_decode_error(codec::reason::kMalformedPacket), Violation::MalformedPacket);
    EXPECT_EQ(violation_of_decode_error(codec::reason::kProtocolError), Violation::ProtocolError);
    EXPECT_EQ(violation_of_decode_error(codec::reason::kUnsupportedProtocolVersion),
              Violation::UnsupportedProtocolVersion);
    EXPECT_EQ(violation_of_decode_error(0x42), Violation::MalformedPacket);
}

class GracefulCloseTest : public ::testing::Test {
protected:
    void SetUp() override {
        loops_ = std::make_unique<net::LoopPool>(1);
        BrokerConfig cfg;
        ListenerConfig l;
        l.name = "test";
        l.bind_address = "127.0.0.1";
        l.port = 0;
        cfg.listeners = {l};
        cfg.threads = 1;
        cfg.receive_maximum = 2;
        broker_ = std::make_unique<Broker>(cfg, *loops_, "test");
        auto started = broker_->start();
        ASSERT_TRUE(started.has_value()) << started.error();
        port_ = broker_->ports().at(0);
        runner_ = std::thread([this] { loops_->run(); });
    }

    void TearDown() override {
        if (runner_.joinable()) {
            broker_->stop([this] { loops_->stop(); });
            runner_.join();
        }
        broker_.reset();
        loops_.reset();
    }

    double metric(const std::string& name, const std::string& labels) const {
        MetricSink sink;
        broker_->collect_metrics(sink);
        for (const auto& s : sink)
            if (s.name == name && s.labels == labels) return s.value;
        ADD_FAILURE() << "no " << name << "{" << labels << "}";
        return -1;
    }

    std::unique_ptr<net::LoopPool> loops_;
    std::unique_ptr<Broker> broker_;
    std::thread runner_;
    uint16_t port_ = 0;
};

TEST_F(GracefulCloseTest, OverrunReceiveMaximumIsAnsweredWithDisconnect0x93ThenAnOrderlyEnd) {
    TestClient c(port_);
    ASSERT_TRUE(c.ok());
    auto ack = c.connect(Version::V5, "overrun", true);
    ASSERT_TRUE(ack.has_value());
    ASSERT_EQ(ack->reason_code, 0);
    // Three QoS 2 PUBLISHes without PUBREL: one more than the Receive Maximum of 2.
    for (uint16_t id = 1; id <= 3; ++id) ASSERT_TRUE(c.publish_no_wait("t", "m", 2, id));
    // The client goes on sending as if it had not read the reason yet: the
    // broker drains it instead of answering with a reset.
    for (uint16_t id = 4; id <= 20; ++id) {
        std::this_thread::sleep_for(10ms);
        ASSERT_TRUE(c.publish_no_wait("t", "m", 0, 0)) << "send " << id << " failed: the broker reset the connection";
    }
    std::vector<std::pair<PacketType, int>> got;
    while (auto p = c.next(5s))
        got.emplace_back(p->type, p->type == PacketType::Pubrec ? p->packet_id : p->reason_code);
    const std::vector<std::pair<PacketType, int>> want{
        {PacketType::Pubrec, 1}, {PacketType::Pubrec, 2}, {PacketType::Disconnect, 0x93}};
    EXPECT_EQ(got, want);
    EXPECT_TRUE(c.peer_closed());
    EXPECT_FALSE(c.peer_reset());
    EXPECT_EQ(metric("ib_mqtt_protocol_violations_total", "reason=\"receive_maximum_exceeded\""), 1);
    EXPECT_EQ(metric("ib_mqtt_protocol_violations_total", "reason=\"malformed_packet\""), 0);
}

TEST_F(GracefulCloseTest, ReceiveMaximumCountsOnlyUnansweredPublishes) {
    TestClient c(port_);
    ASSERT_TRUE(c.ok());
    ASSERT_TRUE(c.connect(Version::V5, "within", true).has_value());
    // Each QoS 2 flow completes before the next: never more than one open.
    for (int i = 0; i < 5; ++i) EXPECT_EQ(c.publish("t", "m", 2), std::optional<uint8_t>(0x10)) << i;
    // QoS 1 PUBACKs go out at once (no durable subscriber): nothing accumulates.
    for (uint16_t id = 1; id <= 5; ++id) ASSERT_TRUE(c.publish_no_wait("t", "m", 1, id));
    for (uint16_t id = 1; id <= 5; ++id) {
        auto p = c.next(5s);
        ASSERT_TRUE(p.has_value()) << id;
        EXPECT_EQ(p->type, PacketType::Puback);
    }
    EXPECT_FALSE(c.peer_closed());
    EXPECT_EQ(metric("ib_mqtt_protocol_violations_total", "reason=\"receive_maximum_exceeded\""), 0);
}

}  // namespace
}  // namespace ib::mqtt::broker
