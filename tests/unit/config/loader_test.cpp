#include "config/loader.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "config/settings.hpp"
#include "drivers/device_settings.hpp"
#include "drivers/sim/sim_signal.hpp"

namespace ib::config {
namespace {

std::string error_of(std::string_view toml) {
    auto r = load_config_string(toml, "ironbridge.toml");
    EXPECT_FALSE(r.has_value()) << "expected an error for:\n" << toml;
    return r.has_value() ? std::string() : r.error();
}

NodeConfig load_ok(std::string_view toml) {
    auto r = load_config_string(toml, "ironbridge.toml");
    EXPECT_TRUE(r.has_value()) << (r.has_value() ? "" : r.error());
    return r.value_or(NodeConfig{});
}

// Compares every setting through the table, so a new setting is covered without
// editing this test (BrokerConfig has no operator==).
void expect_same_settings(const NodeConfig& a, const NodeConfig& b) {
    ASSERT_EQ(a.broker.listeners.size(), b.broker.listeners.size());
    for (const Setting& s : settings()) {
        if (s.scope == SettingScope::Node) {
            EXPECT_EQ(s.get_node(a), s.get_node(b)) << s.key;
        } else {
            for (size_t i = 0; i < a.broker.listeners.size(); ++i) {
                EXPECT_EQ(s.get_listener(a.broker.listeners[i]), s.get_listener(b.broker.listeners[i]))
                    << s.key << "[" << i << "]";
            }
        }
    }
}

TEST(SettingsTable, DefaultsMatchTheStructDefaults) {
    NodeConfig defaults;
    mqtt::broker::ListenerConfig listener;
    for (const Setting& s : settings()) {
        if (s.scope == SettingScope::Node) {
            EXPECT_EQ(s.get_node(defaults), s.default_value) << s.key;
        } else {
            EXPECT_EQ(s.get_listener(listener), s.default_value) << s.key;
        }
    }
}

TEST(SettingsTable, DefaultsAreWithinTheirOwnRange) {
    for (const Setting& s : settings()) {
        if (s.type == SettingType::Integer) {
            int64_t v = std::get<int64_t>(s.default_value);
            EXPECT_LE(s.min, v) << s.key;
            EXPECT_LE(v, s.max) << s.key;
        }
        EXPECT_FALSE(s.help.empty()) << s.key;
    }
}

TEST(SettingsTable, KeysAreUniqueAndListenerKeysSitUnderListeners) {
    for (size_t i = 0; i < settings().size(); ++i) {
        const Setting& s = settings()[i];
        EXPECT_EQ(find_setting(s.key), &s) << s.key;
        EXPECT_EQ(s.scope == SettingScope::Listener, s.section() == kListenersKey) << s.key;
    }
}

TEST(ConfigLoader, EmptyDocumentGivesDefaults) {
    expect_same_settings(load_ok(""), NodeConfig{});
}

TEST(ConfigLoader, EmbeddedDefaultGivesDefaults) {
    // Its demo device is read by the devices' tables, as the app hands them over.
    std::vector<drivers::DeviceConfig> devices;
    const TableList lists[] = {drivers::device_tables(devices, drivers::sim::check_tag_address)};
    auto loaded = load_config_string(embedded_default_toml(), "<embedded default>", lists);
    ASSERT_TRUE(loaded) << loaded.error();
    NodeConfig c = *loaded;
    expect_same_settings(c, NodeConfig{});
    ASSERT_EQ(c.broker.listeners.size(), 1u);
    EXPECT_EQ(c.broker.listeners[0].port, 1883);
    EXPECT_EQ(c.api.port, 8080);
    EXPECT_EQ(c.data_dir, "./data");
    ASSERT_EQ(devices.size(), 1u);
    EXPECT_EQ(devices[0].name, "demo");
    EXPECT_EQ(devices[0].driver, ib::drivers::DriverKind::Sim);
    ASSERT_EQ(devices[0].groups.size(), 1u);
    EXPECT_EQ(devices[0].groups[0].tags.size(), 5u);
}

TEST(ConfigLoader, ReadsEveryKindOfValue) {
    NodeConfig c = load_ok(R"(
data_dir = "/var/lib/ironbridge"
[log]
level = "debug"
[broker]
threads = 4
max_queued_bytes = 1073741824
connect_timeout_ms = 2500
sys_interval_s = 0
retain_available = false
maximum_qos = 1
[api]
enabled = false
bind = "127.0.0.1"
port = 0
)");
    EXPECT_EQ(c.data_dir, "/var/lib/ironbridge");
    EXPECT_EQ(c.log.level, "debug");
    EXPECT_EQ(c.broker.threads, 4u);
    EXPECT_EQ(c.broker.max_queued_bytes, 1073741824ull);
    EXPECT_EQ(c.broker.connect_timeout, std::chrono::milliseconds(2500));
    EXPECT_EQ(c.broker.sys_interval, std::chrono::seconds(0));
    EXPECT_FALSE(c.broker.retain_available);
    EXPECT_EQ(c.broker.maximum_qos, 1);
    EXPECT_FALSE(c.api.enabled);
    EXPECT_EQ(c.api.bind_address, "127.0.0.1");
    EXPECT_EQ(c.api.port, 0);
    EXPECT_EQ(c.broker.max_inflight, 64);  // untouched keys keep their default
}

TEST(ConfigLoader, ListenersReplaceTheDefaultOne) {
    NodeConfig c = load_ok(R"(
[[broker.listeners]]
name = "plant"
bind = "10.0.0.5"
port = 1883
max_connections = 500

[[broker.listeners]]
name = "local"
bind = "::1"
port = 11883
)");
    ASSERT_EQ(c.broker.listeners.size(), 2u);
    EXPECT_EQ(c.broker.listeners[0].name, "plant");
    EXPECT_EQ(c.broker.listeners[0].bind_address, "10.0.0.5");
    EXPECT_EQ(c.broker.listeners[0].max_connections, 500u);
    EXPECT_EQ(c.broker.listeners[1].name, "local");
    EXPECT_EQ(c.broker.listeners[1].port, 11883);
    EXPECT_EQ(c.broker.listeners[1].max_connections, 100000u);
}

TEST(ConfigLoader, ListenersMayShareAPortOnDistinctAddresses) {
    NodeConfig c = load_ok(R"(
[[broker.listeners]]
name = "a"
bind = "10.0.0.5"
[[broker.listeners]]
name = "b"
bind = "127.0.0.1"
)");
    EXPECT_EQ(c.broker.listeners.size(), 2u);
}

TEST(ConfigLoader, PortZeroMayRepeat) {
    NodeConfig c = load_ok(R"(
[[broker.listeners]]
name = "a"
port = 0
[[broker.listeners]]
name = "b"
port = 0
[api]
port = 0
)");
    EXPECT_EQ(c.broker.listeners.size(), 2u);
}

TEST(ConfigLoader, RangeErrorsNameLineKeyAndLimit) {
    EXPECT_EQ(error_of("[broker]\nmax_inflight = 0\n"),
              "ironbridge.toml:2: broker.max_inflight: 0 is below the minimum 1");
    EXPECT_EQ(error_of("[broker]\n\nmax_inflight = 70000\n"),
              "ironbridge.toml:3: broker.max_inflight: 70000 is above the maximum 65535");
    EXPECT_EQ(error_of("broker.maximum_qos = 3\n"),
              "ironbridge.toml:1: broker.maximum_qos: 3 is above the maximum 2");
    EXPECT_EQ(error_of("[broker]\nmax_packet_size = 63\n"),
              "ironbridge.toml:2: broker.max_packet_size: 63 is below the minimum 64");
    EXPECT_EQ(error_of("[broker]\nconnect_timeout_ms = -5\n"),
              "ironbridge.toml:2: broker.connect_timeout_ms: -5 is below the minimum 100");
    EXPECT_EQ(error_of("[api]\nport = 65536\n"),
              "ironbridge.toml:2: api.port: 65536 is above the maximum 65535");
}

TEST(ConfigLoader, RangeBoundsAreInclusive) {
    NodeConfig c = load_ok("[broker]\nmax_inflight = 65535\nmax_topic_depth = 1\nthreads = 64\n");
    EXPECT_EQ(c.broker.max_inflight, 65535);
    EXPECT_EQ(c.broker.max_topic_depth, 1u);
    EXPECT_EQ(c.broker.threads, 64u);
}

TEST(ConfigLoader, TypeErrorsSayWhatWasExpected) {
    EXPECT_EQ(error_of("[broker]\nmax_inflight = \"64\"\n"),
              "ironbridge.toml:2: broker.max_inflight: expected an integer, got a string");
    EXPECT_EQ(error_of("[broker]\nallow_anonymous = 1\n"),
              "ironbridge.toml:2: broker.allow_anonymous: expected a boolean, got an integer");
    EXPECT_EQ(error_of("data_dir = 3.5\n"),
              "ironbridge.toml:1: data_dir: expected a string, got a float");
    EXPECT_EQ(error_of("broker = 5\n"), "ironbridge.toml:1: broker: expected a table, got an integer");
    EXPECT_EQ(error_of("[broker.listeners]\nport = 1\n"),
              "ironbridge.toml:1: broker.listeners: expected an array of tables ([[broker.listeners]]), got a table");
}

TEST(ConfigLoader, UnknownKeysAreRefusedWithASuggestion) {
    EXPECT_EQ(error_of("data_dir = \"x\"\n\n[brokr]\nthreads = 1\n"),
              "ironbridge.toml:3: unknown key 'brokr' (did you mean 'broker'?)");
    EXPECT_EQ(error_of("[broker]\nmax_inflite = 3\n"),
              "ironbridge.toml:2: unknown key 'broker.max_inflite' (did you mean 'broker.max_inflight'?)");
    EXPECT_EQ(error_of("[[broker.listeners]]\nprot = 1\n"),
              "ironbridge.toml:2: unknown key 'broker.listeners[0].prot' (did you mean 'broker.listeners[0].port'?)");
    EXPECT_EQ(error_of("colour = \"blue\"\n"), "ironbridge.toml:1: unknown key 'colour'");
    // A quoted key containing a dot is a single key, not a path.
    EXPECT_EQ(error_of("\"broker.threads\" = 1\n"), "ironbridge.toml:1: unknown key 'broker.threads'");
    EXPECT_EQ(error_of("\"broker.listeners\" = []\n"), "ironbridge.toml:1: unknown key 'broker.listeners'");
}

TEST(ConfigLoader, StringChoicesAndAddressesAreChecked) {
    EXPECT_EQ(error_of("[log]\nlevel = \"verbose\"\n"),
              "ironbridge.toml:2: log.level: \"verbose\" is not one of trace, debug, info, warn, error");
    EXPECT_EQ(error_of("[api]\nbind = \"localhost\"\n"),
              "ironbridge.toml:2: api.bind: 'localhost' is not an IPv4 or IPv6 address");
    EXPECT_EQ(error_of("data_dir = \"\"\n"), "ironbridge.toml:1: data_dir: must not be empty");
}

TEST(ConfigLoader, SyntaxErrorsGiveLineAndColumn) {
    std::string e = error_of("[broker]\nmax_inflight = = 3\n");
    EXPECT_TRUE(e.starts_with("ironbridge.toml:2:")) << e;
    EXPECT_NE(e.find("syntax error: "), std::string::npos) << e;
    e = error_of("[broker\n");
    EXPECT_TRUE(e.starts_with("ironbridge.toml:1:")) << e;
}

TEST(ConfigLoader, EveryProblemIsReportedInLineOrder) {
    EXPECT_EQ(error_of("[log]\nlevel = \"loud\"\n[broker]\nthreads = 65\nmax_inflight = 0\nzzz = 1\n"),
              "ironbridge.toml:2: log.level: \"loud\" is not one of trace, debug, info, warn, error\n"
              "ironbridge.toml:4: broker.threads: 65 is above the maximum 64\n"
              "ironbridge.toml:5: broker.max_inflight: 0 is below the minimum 1\n"
              "ironbridge.toml:6: unknown key 'broker.zzz'");
}

TEST(ConfigLoader, DuplicateListenerNamesAreRefused) {
    EXPECT_EQ(error_of(R"([[broker.listeners]]
name = "a"
port = 1883
[[broker.listeners]]
name = "a"
port = 1884
)"),
              "ironbridge.toml:5: broker.listeners[1].name: \"a\" is already the name of broker.listeners[0]");
}

TEST(ConfigLoader, ListenersOnTheSamePortAreRefused) {
    EXPECT_EQ(error_of(R"([[broker.listeners]]
name = "a"
port = 1883
[[broker.listeners]]
name = "b"
bind = "127.0.0.1"
port = 1883
)"),
              "ironbridge.toml:7: broker.listeners[1].port: 127.0.0.1:1883 collides with "
              "broker.listeners[0] on 0.0.0.0:1883");
    // A defaulted port points at the listener's table line.
    EXPECT_EQ(error_of("[[broker.listeners]]\nname = \"a\"\n[[broker.listeners]]\nname = \"b\"\nbind = \"::\"\n"),
              "ironbridge.toml:3: broker.listeners[1].port: [::]:1883 collides with "
              "broker.listeners[0] on 0.0.0.0:1883");
}

TEST(ConfigLoader, ApiPortMustNotCollideWithAListener) {
    EXPECT_EQ(error_of("[api]\nport = 1883\n"),
              "ironbridge.toml:2: api.port: 0.0.0.0:1883 collides with broker.listeners[0] on 0.0.0.0:1883");
    load_ok("[api]\nenabled = false\nport = 1883\n");
}

TEST(ConfigLoader, ListenerArrayShapeIsChecked) {
    EXPECT_EQ(error_of("[broker]\nlisteners = []\n"),
              "ironbridge.toml:2: broker.listeners: at least one listener is required");
    EXPECT_EQ(error_of("[broker]\nlisteners = [1]\n"),
              "ironbridge.toml:2: broker.listeners[0]: expected a table, got an integer");
    EXPECT_EQ(error_of("[[broker.listeners]]\nport = 70000\n"),
              "ironbridge.toml:2: broker.listeners[0].port: 70000 is above the maximum 65535");
}

TEST(ConfigLoader, MissingFileNamesThePathAndReason) {
    auto r = load_config_file("/nonexistent/ironbridge.toml");
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error(), "/nonexistent/ironbridge.toml: cannot open: No such file or directory");
}

TEST(ConfigLoader, FileErrorsUseThePathAsSource) {
    std::string path = ::testing::TempDir() + "ib_loader_test.toml";
    {
        std::ofstream out(path);
        out << "[broker]\nmax_inflight = 0\n";
    }
    auto r = load_config_file(path);
    std::remove(path.c_str());
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error(), path + ":2: broker.max_inflight: 0 is below the minimum 1");
}

}  // namespace
}  // namespace ib::config
