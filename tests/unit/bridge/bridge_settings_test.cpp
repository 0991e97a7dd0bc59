// Bridges in the config file: every key lands where it should, defaults are
// what the docs say, and errors name the line and the key path.
#include <gtest/gtest.h>

#include <expected>
#include <string>
#include <string_view>
#include <vector>

#include "bridge/bridge_settings.hpp"
#include "config/loader.hpp"

namespace {

using namespace ib::config;

struct Loaded {
    std::vector<ib::bridge::BridgeConfig> bridges;
};

// The node's loader with the bridges' tables, as the app assembles it.
std::expected<Loaded, std::string> load_bridges(std::string_view toml, std::string_view source) {
    Loaded out;
    const TableList lists[] = {ib::bridge::bridge_tables(out.bridges)};
    auto c = load_config_string(toml, source, lists);
    if (!c) return std::unexpected(c.error());
    return out;
}

TEST(BridgeSettings, ReadsABridgeWithForwardsAndSubscriptions) {
    auto c = load_bridges(R"(
[[bridges]]
name = "cloud"
servers = ["emqx.example.com:8883", "10.0.0.2", "[::1]:1884"]
protocol = "3.1.1"
username = "edge"
password = "secret"
inflight = 32
max_queue_bytes = 2048
max_queue_age_s = 3600
queue_full = "drop-new"

[[bridges.forwards]]
local = "ib/data/#"
remote = "factory1/${topic}"
qos = 1

[[bridges.subscriptions]]
remote = "factory1/write/+"
local = "ib/write/${3}"
qos = 2
)",
                                "t.toml");
    ASSERT_TRUE(c) << c.error();
    ASSERT_EQ(c->bridges.size(), 1u);
    const auto& b = c->bridges[0];
    EXPECT_EQ(b.name, "cloud");
    ASSERT_EQ(b.servers.size(), 3u);
    EXPECT_EQ(b.servers[0].host, "emqx.example.com");
    EXPECT_EQ(b.servers[0].port, 8883);
    EXPECT_EQ(b.servers[1].port, 1883);
    EXPECT_EQ(b.servers[2].host, "::1");
    EXPECT_EQ(b.servers[2].port, 1884);
    EXPECT_EQ(b.protocol, 4);
    // None given: the node's default, made when the bridge connects (default_client_id).
    EXPECT_EQ(b.client_id, "");
    EXPECT_EQ(b.inflight, 32u);
    EXPECT_EQ(b.max_queue_bytes, 2048u);
    EXPECT_EQ(b.max_queue_age.count(), 3600);
    EXPECT_EQ(b.queue_full, ib::bridge::QueueFullPolicy::DropNew);
    ASSERT_EQ(b.forwards.size(), 1u);
    EXPECT_EQ(b.forwards[0].remote, "factory1/${topic}");
    ASSERT_EQ(b.subscriptions.size(), 1u);
    EXPECT_EQ(b.subscriptions[0].qos, 2);
}

TEST(BridgeSettings, DefaultsMatchTheDocs) {
    auto c = load_bridges("[[bridges]]\nname = \"b\"\nservers = [\"h\"]\n", "t.toml");
    ASSERT_TRUE(c) << c.error();
    const auto& b = c->bridges[0];
    EXPECT_EQ(b.protocol, 5);
    EXPECT_FALSE(b.clean_start);
    EXPECT_EQ(b.inflight, 256u);
    EXPECT_EQ(b.queue_full, ib::bridge::QueueFullPolicy::DropOldest);
    EXPECT_TRUE(b.queue_qos0);
    EXPECT_EQ(b.keep_alive.count(), 30);
}

TEST(BridgeSettings, ErrorsNameLineAndKey) {
    auto c = load_bridges(R"([[bridges]]
name = "cloud"
servers = []
inflght = 3

[[bridges.forwards]]
remote = "x"

[[bridges.subscriptions]]
remote = "a/+b"

[[bridges]]
name = "cloud"
servers = ["h:0"]
)",
                                "t.toml");
    ASSERT_FALSE(c);
    const std::string& e = c.error();
    EXPECT_NE(e.find("t.toml:3: bridges[0].servers: must name at least one server"), std::string::npos) << e;
    EXPECT_NE(e.find("t.toml:4: unknown key 'bridges[0].inflght' (did you mean 'bridges[0].inflight'?)"),
              std::string::npos)
        << e;
    EXPECT_NE(e.find("bridges[0].forwards[0].local: is required"), std::string::npos) << e;
    EXPECT_NE(e.find("t.toml:10: bridges[0].subscriptions[0].remote: \"a/+b\" is not a valid MQTT topic filter"),
              std::string::npos)
        << e;
    EXPECT_NE(e.find("t.toml:14: bridges[1].servers: \"h:0\": the port must be a number from 1 to 65535"),
              std::string::npos)
        << e;
}

TEST(BridgeSettings, NamesAreUnique) {
    auto c = load_bridges(
        "[[bridges]]\nname = \"a\"\nservers = [\"h\"]\n[[bridges]]\nname = \"a\"\nservers = [\"h\"]\n", "t.toml");
    ASSERT_FALSE(c);
    EXPECT_NE(c.error().find("t.toml:5: bridges[1].name: \"a\" is already the name of another bridge"),
              std::string::npos)
        << c.error();
}

}  // namespace
