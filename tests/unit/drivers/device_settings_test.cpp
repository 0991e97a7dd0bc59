// Devices, groups and tags in the config file and as REST JSON: one set of
// checks, errors that name the line and the key path.
#include <gtest/gtest.h>

#include <expected>
#include <string>
#include <string_view>
#include <vector>

#include "config/loader.hpp"
#include "drivers/device_settings.hpp"
#include "drivers/modbus/modbus_address.hpp"
#include "drivers/sim/sim_signal.hpp"

namespace {

using namespace ib::config;
using namespace ib::drivers;

// The app's check: a tag's address by its device's driver.
std::string check_address(const DeviceConfig& device, const TagConfig& tag) {
    return device.driver == DriverKind::Sim ? sim::check_tag_address(device, tag)
                                            : modbus::check_tag_address(device, tag);
}

struct Loaded {
    std::vector<DeviceConfig> devices;
};

// The node's loader with the devices' tables, as the app assembles it.
std::expected<Loaded, std::string> load_devices(std::string_view toml, std::string_view source) {
    Loaded out;
    const TableList lists[] = {device_tables(out.devices, check_address)};
    auto c = load_config_string(toml, source, lists);
    if (!c) return std::unexpected(c.error());
    return out;
}

constexpr const char* kDevice = R"(
[[devices]]
name = "plc1"
driver = "modbus-tcp"
host = "10.0.0.5"
port = 502
byte_order = "LB"

[[devices.groups]]
name = "fast"
interval_ms = 100

[[devices.groups.tags]]
name = "temp"
address = "1!400001"
type = "float32"
scale = 0.1
)";

TEST(DeviceSettings, ReadsADeviceWithGroupsAndTags) {
    auto c = load_devices(kDevice, "t.toml");
    ASSERT_TRUE(c) << c.error();
    ASSERT_EQ(c->devices.size(), 1u);
    const auto& d = c->devices[0];
    EXPECT_EQ(d.driver, DriverKind::ModbusTcp);
    EXPECT_EQ(d.host, "10.0.0.5");
    EXPECT_EQ(d.byte_order, "LB");
    ASSERT_EQ(d.groups.size(), 1u);
    EXPECT_EQ(d.groups[0].interval.count(), 100);
    ASSERT_EQ(d.groups[0].tags.size(), 1u);
    EXPECT_EQ(d.groups[0].tags[0].type, DataType::Float32);
    EXPECT_DOUBLE_EQ(d.groups[0].tags[0].scale, 0.1);
}

TEST(DeviceSettings, RefusesABadAddressWithItsLineKeyAndTheExpectedForm) {
    std::string text = kDevice;
    text.replace(text.find("1!400001"), 8, "1!4x0001");
    auto c = load_devices(text, "t.toml");
    ASSERT_FALSE(c);
    EXPECT_NE(c.error().find("t.toml:15: devices[0].groups[0].tags[0].address: \"1!4x0001\""), std::string::npos)
        << c.error();
    EXPECT_NE(c.error().find("expected UNIT!AREA ADDRESS"), std::string::npos) << c.error();
}

TEST(DeviceSettings, SuggestsTheKeyMeantByATypo) {
    std::string text = kDevice;
    text.replace(text.find("interval_ms"), 11, "intervl_ms");
    auto c = load_devices(text, "t.toml");
    ASSERT_FALSE(c);
    EXPECT_NE(c.error().find("unknown key 'devices[0].groups[0].intervl_ms' (did you mean "
                             "'devices[0].groups[0].interval_ms'?)"),
              std::string::npos)
        << c.error();
}

TEST(DeviceSettings, RefusesWritingAReadOnlyArea) {
    std::string text = kDevice;
    text.replace(text.find("1!400001"), 8, "1!300001");
    text += "access = \"rw\"\n";
    auto c = load_devices(text, "t.toml");
    ASSERT_FALSE(c);
    EXPECT_NE(c.error().find("read-only area"), std::string::npos) << c.error();
}

TEST(DeviceSettings, RefusesDuplicateTagAndDeviceNames) {
    std::string text = std::string(kDevice) + R"(
[[devices.groups]]
name = "slow"
[[devices.groups.tags]]
name = "temp"
address = "1!400003"
)" + kDevice;
    auto c = load_devices(text, "t.toml");
    ASSERT_FALSE(c);
    EXPECT_NE(c.error().find("\"temp\" is already the name of another tag of this device"), std::string::npos)
        << c.error();
}

TEST(DeviceSettings, RequiresASerialPortForRtu) {
    auto c = load_devices("[[devices]]\nname = \"m\"\ndriver = \"modbus-rtu\"\n", "t.toml");
    ASSERT_FALSE(c);
    EXPECT_NE(c.error().find("devices[0].serial_port: is required for driver modbus-rtu"), std::string::npos)
        << c.error();
}

TEST(DeviceSettings, RefusesASimSignalThatDoesNotFitTheType) {
    auto c = load_devices(R"(
[[devices]]
name = "s"
driver = "sim"
[[devices.groups]]
name = "g"
tags = [{ name = "b", address = "sine", type = "bool" }]
)",
                                "t.toml");
    ASSERT_FALSE(c);
    EXPECT_NE(c.error().find("a bool tag cannot carry signal"), std::string::npos) << c.error();
}

TEST(DeviceJson, RoundTripsThroughTheSameChecks) {
    auto c = load_devices(kDevice, "t.toml");
    ASSERT_TRUE(c) << c.error();
    std::string json = device_to_json(c->devices[0]);
    auto back = device_from_json(json, check_address);
    ASSERT_TRUE(back) << back.error();
    EXPECT_EQ(device_to_json(*back), json);
}

TEST(DeviceJson, ReportsEveryProblemWithItsPath) {
    auto d = device_from_json(
        R"({"name":"bad name","driver":"modbus-tcp","groups":[{"name":"g","interval_ms":1,"tags":[{"name":"t"}]}]})",
        check_address);
    ASSERT_FALSE(d);
    EXPECT_NE(d.error().find("name: \"bad name\" is not a valid name"), std::string::npos) << d.error();
    auto e =
        device_from_json(R"({"name":"ok","driver":"sim","groups":[{"name":"g","interval_ms":1}]})", check_address);
    ASSERT_FALSE(e);
    EXPECT_NE(e.error().find("groups[0].interval_ms: 1 is below the minimum 10"), std::string::npos) << e.error();
    EXPECT_FALSE(device_from_json("[1,2]", check_address));
    EXPECT_FALSE(device_from_json("{\"name\":", check_address));
    EXPECT_FALSE(device_from_json(R"({"name":null,"driver":"sim"})", check_address));
}

}  // namespace

namespace {

TEST(DeviceSettings, ReadsAnOpcUaDeviceWithItsSecurityAndGroupModes) {
    auto c = load_devices(R"(
[[devices]]
name = "ua"
driver = "opcua"
endpoint = "opc.tcp://plc.local:4841/UA/Server"
security_policy = "Basic256Sha256"
security_mode = "SignAndEncrypt"
username = "op"
password = "secret"

[[devices.groups]]
name = "fast"
interval_ms = 100
queue_size = 5
deadband = 0.5

[[devices.groups]]
name = "slow"
mode = "poll"
)",
                          "t.toml");
    ASSERT_TRUE(c) << c.error();
    const DeviceConfig& d = c->devices.at(0);
    EXPECT_EQ(d.driver, DriverKind::OpcUa);
    EXPECT_EQ(d.opcua.endpoint, "opc.tcp://plc.local:4841/UA/Server");
    EXPECT_EQ(d.opcua.security_policy, "Basic256Sha256");
    EXPECT_EQ(d.opcua.security_mode, "SignAndEncrypt");
    EXPECT_EQ(d.opcua.username, "op");
    EXPECT_EQ(d.groups.at(0).mode, GroupMode::Auto);
    EXPECT_EQ(d.groups.at(0).queue_size, 5u);
    EXPECT_EQ(d.groups.at(0).deadband, 0.5);
    EXPECT_EQ(d.groups.at(1).mode, GroupMode::Poll);
    // What the API writes back reads back the same.
    auto again = device_from_json(device_to_json(d), check_address);
    ASSERT_TRUE(again) << again.error();
    EXPECT_EQ(device_to_json(*again), device_to_json(d));
}

TEST(DeviceSettings, TheApiShowsAPasswordMaskedAndAnEditSentBackKeepsIt) {
    auto d = device_from_json(
        R"({"name":"ua","driver":"opcua","endpoint":"opc.tcp://h:4840","username":"op","password":"s3cret"})",
        check_address);
    ASSERT_TRUE(d) << d.error();
    const std::string shown = device_to_json(*d, Secrets::Masked);
    EXPECT_EQ(shown.find("s3cret"), std::string::npos) << shown;
    EXPECT_NE(shown.find(R"("password":"********")"), std::string::npos) << shown;
    // The device store keeps the password itself.
    EXPECT_NE(device_to_json(*d).find("s3cret"), std::string::npos);
    // An edit form sends back what it was shown: the password in force stays.
    auto edited = device_from_json(shown, check_address);
    ASSERT_TRUE(edited) << edited.error();
    keep_masked_secrets(*edited, *d);
    EXPECT_EQ(edited->opcua.password, "s3cret");
    // A new password sent replaces it; no password stays no password.
    edited->opcua.password = "n3w";
    keep_masked_secrets(*edited, *d);
    EXPECT_EQ(edited->opcua.password, "n3w");
    auto none = device_from_json(R"({"name":"ua","driver":"opcua","endpoint":"opc.tcp://h:4840"})", check_address);
    ASSERT_TRUE(none) << none.error();
    EXPECT_NE(device_to_json(*none, Secrets::Masked).find(R"("password":"")"), std::string::npos);
}

TEST(DeviceSettings, AnOpcUaDeviceWithDefaultSecurityReadsBackFromItsJson) {
    auto d = device_from_json(R"({"name":"ua","driver":"opcua","endpoint":"opc.tcp://h:4840"})", check_address);
    ASSERT_TRUE(d) << d.error();
    // The defaults are written as "" (the most secure), and "" reads back as the default.
    auto again = device_from_json(device_to_json(*d), check_address);
    ASSERT_TRUE(again) << again.error();
    EXPECT_EQ(again->opcua.security_policy, "");
    EXPECT_EQ(again->opcua.security_mode, "");
}

TEST(DeviceSettings, RefusesOpcUaSettingsWithTheKeyAndLine) {
    auto c = load_devices("[[devices]]\nname = \"ua\"\ndriver = \"opcua\"\nendpoint = \"tcp://x\"\n", "t.toml");
    ASSERT_FALSE(c);
    EXPECT_NE(c.error().find("t.toml:4: devices[0].endpoint: \"tcp://x\" is not of the form opc.tcp://host:port/path"),
              std::string::npos)
        << c.error();
    c = load_devices("[[devices]]\nname = \"ua\"\ndriver = \"opcua\"\n", "t.toml");
    ASSERT_FALSE(c);
    EXPECT_NE(c.error().find("devices[0].endpoint: is required for driver opcua"), std::string::npos) << c.error();
    c = load_devices("[[devices]]\nname = \"m\"\ndriver = \"sim\"\n[[devices.groups]]\nname = \"g\"\nmode = \"subscribe\"\n",
                     "t.toml");
    ASSERT_FALSE(c);
    EXPECT_NE(c.error().find("t.toml:6: devices[0].groups[0].mode: subscribe needs driver opcua"), std::string::npos)
        << c.error();
}

TEST(OpcEndpoint, SplitsHostAndPortAndRefusesOtherForms) {
    auto e = parse_opc_endpoint("opc.tcp://10.0.0.5:4841/UA/Server");
    ASSERT_TRUE(e);
    EXPECT_EQ(e->host, "10.0.0.5");
    EXPECT_EQ(e->port, 4841);
    e = parse_opc_endpoint("opc.tcp://plc");
    ASSERT_TRUE(e);
    EXPECT_EQ(e->host, "plc");
    EXPECT_EQ(e->port, 4840);
    e = parse_opc_endpoint("opc.tcp://[::1]:48010");
    ASSERT_TRUE(e);
    EXPECT_EQ(e->host, "::1");
    EXPECT_EQ(e->port, 48010);
    for (const char* bad : {"http://plc:4840", "opc.tcp://", "opc.tcp://:4840", "opc.tcp://plc:0", "opc.tcp://plc:65536",
                            "opc.tcp://plc:48a0/x", "opc.tcp://[::1"}) {
        EXPECT_FALSE(parse_opc_endpoint(bad)) << bad;
    }
}

}  // namespace
