#include "drivers/device_settings.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <set>
#include <simdjson.h>

#include "config/json_tree.hpp"
#include "config/table_fields.hpp"
#include "core/quote.hpp"

namespace ib::drivers {
namespace {

using namespace config::fields;
using config::ReportProblem;

// The byte orders a Modbus device can default to (modbus::parse_byte_order reads
// them). Checked here, with the keys every device has, so a device's keys stay
// in one table that knows no driver.
bool valid_byte_order(std::string_view s) { return s == "BB" || s == "BL" || s == "LB" || s == "LL"; }

// ---------------------------------------------------------------- device keys
const std::vector<Field<DeviceConfig>>& device_fields() {
    static const std::vector<Field<DeviceConfig>> f = {
        {"name", Kind::String, "(required)", "Unique device name; a topic level in ib/data/{device}/{group}.", 0, 0,
         [](DeviceConfig& d, const toml::node& n) { return store_name(d.name, n); },
         [](const DeviceConfig& d) { return ib::quoted(d.name); }, true},
        {"driver", Kind::String, "(required)", "One of `modbus-tcp`, `modbus-rtu-over-tcp`, `modbus-rtu`, `sim`, `opcua`.",
         0, 0,
         [](DeviceConfig& d, const toml::node& n) -> std::string {
             std::string s = str(n);
             for (DriverKind k : {DriverKind::ModbusTcp, DriverKind::ModbusRtuOverTcp, DriverKind::ModbusRtu,
                                  DriverKind::Sim, DriverKind::OpcUa}) {
                 if (s == drivers::driver_name(k)) {
                     d.driver = k;
                     return {};
                 }
             }
             return ib::quoted(s) + " is not one of modbus-tcp, modbus-rtu-over-tcp, modbus-rtu, sim, opcua";
         },
         [](const DeviceConfig& d) { return ib::quoted(drivers::driver_name(d.driver)); }, true},
        {"enabled", Kind::Boolean, "true", "A disabled device is kept but not polled.", 0, 0,
         [](DeviceConfig& d, const toml::node& n) {
             d.enabled = n.as_boolean()->get();
             return std::string();
         },
         [](const DeviceConfig& d) { return std::string(d.enabled ? "true" : "false"); }},
        {"host", Kind::String, "\"127.0.0.1\"", "Modbus TCP: the device's or gateway's host name or IP address.", 0, 0,
         [](DeviceConfig& d, const toml::node& n) -> std::string {
             d.host = str(n);
             return d.host.empty() ? "must not be empty" : "";
         },
         [](const DeviceConfig& d) { return ib::quoted(d.host); }},
        {"port", Kind::Integer, "502", "Modbus TCP: the TCP port.", 1, 65535,
         [](DeviceConfig& d, const toml::node& n) {
             d.port = static_cast<uint16_t>(integer(n));
             return std::string();
         },
         [](const DeviceConfig& d) { return std::to_string(d.port); }},
        {"serial_port", Kind::String, "\"\"", "Modbus RTU: the serial device, e.g. /dev/ttyUSB0.", 0, 0,
         [](DeviceConfig& d, const toml::node& n) {
             d.serial.port = str(n);
             return std::string();
         },
         [](const DeviceConfig& d) { return ib::quoted(d.serial.port); }},
        {"baud", Kind::Integer, "9600", "Modbus RTU: bits per second.", 50, 4000000,
         [](DeviceConfig& d, const toml::node& n) {
             d.serial.baud = static_cast<uint32_t>(integer(n));
             return std::string();
         },
         [](const DeviceConfig& d) { return std::to_string(d.serial.baud); }},
        {"parity", Kind::String, "\"none\"", "Modbus RTU: `none`, `even` or `odd`.", 0, 0,
         [](DeviceConfig& d, const toml::node& n) -> std::string {
             std::string s = str(n);
             if (s == "none") d.serial.parity = 'N';
             else if (s == "even") d.serial.parity = 'E';
             else if (s == "odd") d.serial.parity = 'O';
             else return ib::quoted(s) + " is not one of none, even, odd";
             return {};
         },
         [](const DeviceConfig& d) {
             return ib::quoted(d.serial.parity == 'E' ? "even" : d.serial.parity == 'O' ? "odd" : "none");
         }},
        {"data_bits", Kind::Integer, "8", "Modbus RTU: data bits per character.", 7, 8,
         [](DeviceConfig& d, const toml::node& n) {
             d.serial.data_bits = static_cast<uint8_t>(integer(n));
             return std::string();
         },
         [](const DeviceConfig& d) { return std::to_string(d.serial.data_bits); }},
        {"stop_bits", Kind::Integer, "1", "Modbus RTU: stop bits.", 1, 2,
         [](DeviceConfig& d, const toml::node& n) {
             d.serial.stop_bits = static_cast<uint8_t>(integer(n));
             return std::string();
         },
         [](const DeviceConfig& d) { return std::to_string(d.serial.stop_bits); }},
        {"timeout_ms", Kind::Integer, "1000", "Time a request (or a connection attempt) may take.", 10, 600000,
         [](DeviceConfig& d, const toml::node& n) {
             d.timeout = std::chrono::milliseconds(integer(n));
             return std::string();
         },
         [](const DeviceConfig& d) { return std::to_string(d.timeout.count()); }},
        {"retries", Kind::Integer, "1", "Extra attempts of a request after a timeout before its tags get an error.",
         0, 10,
         [](DeviceConfig& d, const toml::node& n) {
             d.retries = static_cast<uint32_t>(integer(n));
             return std::string();
         },
         [](const DeviceConfig& d) { return std::to_string(d.retries); }},
        {"reconnect_min_ms", Kind::Integer, "500",
         "First wait before reconnecting (or retrying a unit that stopped answering); doubles up to reconnect_max_ms.",
         10, 3600000,
         [](DeviceConfig& d, const toml::node& n) {
             d.reconnect_min = std::chrono::milliseconds(integer(n));
             return std::string();
         },
         [](const DeviceConfig& d) { return std::to_string(d.reconnect_min.count()); }},
        {"reconnect_max_ms", Kind::Integer, "30000", "Longest wait between reconnection attempts.", 10, 3600000,
         [](DeviceConfig& d, const toml::node& n) {
             d.reconnect_max = std::chrono::milliseconds(integer(n));
             return std::string();
         },
         [](const DeviceConfig& d) { return std::to_string(d.reconnect_max.count()); }},
        {"address_base", Kind::Integer, "1",
         "1: address 400001 is the first holding register (wire address 0); 0: 400000 is.", 0, 1,
         [](DeviceConfig& d, const toml::node& n) {
             d.address_base = static_cast<int>(integer(n));
             return std::string();
         },
         [](const DeviceConfig& d) { return std::to_string(d.address_base); }},
        {"byte_order", Kind::String, "\"BB\"",
         "Default order of 32/64-bit values (`BB` ABCD, `BL` BADC, `LB` CDAB, `LL` DCBA); its second letter is the "
         "16-bit default.",
         0, 0,
         [](DeviceConfig& d, const toml::node& n) -> std::string {
             std::string s = str(n);
             if (!valid_byte_order(s)) return ib::quoted(s) + " is not one of BB, BL, LB, LL";
             d.byte_order = s;
             return {};
         },
         [](const DeviceConfig& d) { return ib::quoted(d.byte_order); }},
        {"max_gap", Kind::Integer, "16", "Unrequested registers (or bits) bridged to merge two tags into one read.", 0,
         2000,
         [](DeviceConfig& d, const toml::node& n) {
             d.max_gap = static_cast<uint16_t>(integer(n));
             return std::string();
         },
         [](const DeviceConfig& d) { return std::to_string(d.max_gap); }},
        {"endpoint", Kind::String, "\"\"", "OPC UA: the server's endpoint URL, `opc.tcp://host:port/path` (port 4840 if absent).",
         0, 0,
         [](DeviceConfig& d, const toml::node& n) -> std::string {
             d.opcua.endpoint = str(n);
             if (d.opcua.endpoint.empty() || parse_opc_endpoint(d.opcua.endpoint)) return {};
             return ib::quoted(d.opcua.endpoint) + " is not of the form opc.tcp://host:port/path";
         },
         [](const DeviceConfig& d) { return ib::quoted(d.opcua.endpoint); }},
        {"security_policy", Kind::String, "\"\"",
         "OPC UA: `None`, `Basic256Sha256`, `Aes128_Sha256_RsaOaep` or `Aes256_Sha256_RsaPss`; absent: the most secure "
         "the server offers (None only when named).",
         0, 0,
         [](DeviceConfig& d, const toml::node& n) -> std::string {
             std::string s = str(n);  // "" (as device_to_json writes the default): the most secure
             if (!s.empty() && s != "None" && s != "Basic256Sha256" && s != "Aes128_Sha256_RsaOaep" &&
                 s != "Aes256_Sha256_RsaPss") {
                 return ib::quoted(s) + " is not one of None, Basic256Sha256, Aes128_Sha256_RsaOaep, Aes256_Sha256_RsaPss";
             }
             d.opcua.security_policy = s;
             return {};
         },
         [](const DeviceConfig& d) { return ib::quoted(d.opcua.security_policy); }},
        {"security_mode", Kind::String, "\"\"",
         "OPC UA: `None`, `Sign` or `SignAndEncrypt`; absent: the most secure the policy offers.", 0, 0,
         [](DeviceConfig& d, const toml::node& n) -> std::string {
             std::string s = str(n);
             if (!s.empty() && s != "None" && s != "Sign" && s != "SignAndEncrypt") {
                 return ib::quoted(s) + " is not one of None, Sign, SignAndEncrypt";
             }
             d.opcua.security_mode = s;
             return {};
         },
         [](const DeviceConfig& d) { return ib::quoted(d.opcua.security_mode); }},
        {"username", Kind::String, "\"\"", "OPC UA: log in with this user name (and `password`); absent: anonymous.", 0,
         0,
         [](DeviceConfig& d, const toml::node& n) {
             d.opcua.username = str(n);
             return std::string();
         },
         [](const DeviceConfig& d) { return ib::quoted(d.opcua.username); }},
        {"password", Kind::String, "\"\"", "OPC UA: the user's password, sent encrypted with the server's key.", 0, 0,
         [](DeviceConfig& d, const toml::node& n) {
             d.opcua.password = str(n);
             return std::string();
         },
         [](const DeviceConfig& d) { return ib::quoted(d.opcua.password); }, false, true},
        {"user_certificate", Kind::String, "\"\"",
         "OPC UA: PEM file of an X.509 user certificate to log in with (with `user_key`).", 0, 0,
         [](DeviceConfig& d, const toml::node& n) {
             d.opcua.user_certificate = str(n);
             return std::string();
         },
         [](const DeviceConfig& d) { return ib::quoted(d.opcua.user_certificate); }},
        {"user_key", Kind::String, "\"\"", "OPC UA: PEM file of the user certificate's private key.", 0, 0,
         [](DeviceConfig& d, const toml::node& n) {
             d.opcua.user_key = str(n);
             return std::string();
         },
         [](const DeviceConfig& d) { return ib::quoted(d.opcua.user_key); }},
        {"trust_on_first_use", Kind::Boolean, "false",
         "OPC UA, for commissioning: trust an unknown server certificate (saved under data_dir/pki/trusted) instead of "
         "refusing it.",
         0, 0,
         [](DeviceConfig& d, const toml::node& n) {
             d.opcua.trust_on_first_use = n.as_boolean()->get();
             return std::string();
         },
         [](const DeviceConfig& d) { return std::string(d.opcua.trust_on_first_use ? "true" : "false"); }},
        {"session_timeout_ms", Kind::Integer, "60000",
         "OPC UA: the session timeout asked of the server (it may revise it); the subscriptions are asked to live twice "
         "as long, so a new session can take them over (TransferSubscriptions) when the old one timed out.",
         1000, 3600000,
         [](DeviceConfig& d, const toml::node& n) {
             d.opcua.session_timeout_ms = static_cast<uint32_t>(integer(n));
             return std::string();
         },
         [](const DeviceConfig& d) { return std::to_string(d.opcua.session_timeout_ms); }},
    };
    return f;
}

const std::vector<Field<GroupConfig>>& group_fields() {
    static const std::vector<Field<GroupConfig>> f = {
        {"name", Kind::String, "(required)", "Group name, unique in its device; a topic level.", 0, 0,
         [](GroupConfig& g, const toml::node& n) { return store_name(g.name, n); },
         [](const GroupConfig& g) { return ib::quoted(g.name); }, true},
        {"interval_ms", Kind::Integer, "1000", "Poll interval.", 10, 86400000,
         [](GroupConfig& g, const toml::node& n) {
             g.interval = std::chrono::milliseconds(integer(n));
             return std::string();
         },
         [](const GroupConfig& g) { return std::to_string(g.interval.count()); }},
        {"mode", Kind::String, "\"auto\"",
         "`poll` (read every interval) or `subscribe` (OPC UA only: the server sends changes, sampled and published every "
         "interval); `auto`: subscribe for OPC UA, poll otherwise.",
         0, 0,
         [](GroupConfig& g, const toml::node& n) -> std::string {
             std::string s = str(n);
             for (GroupMode m : {GroupMode::Auto, GroupMode::Poll, GroupMode::Subscribe}) {
                 if (s == group_mode_name(m)) {
                     g.mode = m;
                     return {};
                 }
             }
             return ib::quoted(s) + " is not one of auto, poll, subscribe";
         },
         [](const GroupConfig& g) { return ib::quoted(group_mode_name(g.mode)); }},
        {"queue_size", Kind::Integer, "1", "OPC UA subscriptions: changes the server keeps per tag between two publishes.",
         1, 10000,
         [](GroupConfig& g, const toml::node& n) {
             g.queue_size = static_cast<uint32_t>(integer(n));
             return std::string();
         },
         [](const GroupConfig& g) { return std::to_string(g.queue_size); }},
        {"deadband", Kind::Float, "0.0",
         "OPC UA subscriptions: the server reports a number only when it moved by more than this (0: every change).", 0,
         0,
         [](GroupConfig& g, const toml::node& n) -> std::string {
             g.deadband = number(n);
             return g.deadband >= 0 && std::isfinite(g.deadband) ? "" : "must be 0 or more";
         },
         [](const GroupConfig& g) { return json_number(g.deadband); }},
    };
    return f;
}

const std::vector<Field<TagConfig>>& tag_fields() {
    static const std::vector<Field<TagConfig>> f = {
        {"name", Kind::String, "(required)", "Tag name, unique in its device; the key in `values`.", 0, 0,
         [](TagConfig& t, const toml::node& n) {
             std::string name;
             std::string why = store_name(name, n);
             t.set_name(name);
             return why;
         },
         [](const TagConfig& t) { return ib::quoted(t.name()); }, true},
        {"address", Kind::String, "(required)",
         "Modbus: `UNIT!AREA ADDRESS[.BIT|.LEN[H|L]][#ORDER]`, e.g. `1!400001#BB`; sim: a signal such as "
         "`sine:period=60,amplitude=10`; OPC UA: a NodeId, e.g. `ns=2;s=Line1.Temp`, `i=2258`, `nsu=urn:x;s=y`, "
         "or a browse path from the Objects folder, e.g. `/2:Line1/2:Temp` (`/` hierarchical, `.` component or "
         "property, `ns:` before a name, `&` escapes the next character), followed again after every connect.",
         0, 0,
         [](TagConfig& t, const toml::node& n) -> std::string {
             t.set_address(str(n));
             return t.address().empty() ? "must not be empty" : "";
         },
         [](const TagConfig& t) { return ib::quoted(t.address()); }, true},
        {"type", Kind::String, "\"uint16\"",
         "bool, int8, uint8, int16, uint16, int32, uint32, int64, uint64, float32, float64, string, bytes. OPC UA "
         "values keep the node's own type; there `type` only matters for scaling and float32 output.",
         0, 0,
         [](TagConfig& t, const toml::node& n) -> std::string {
             std::string s = str(n);
             auto type = drivers::parse_data_type(s);
             if (!type) return ib::quoted(s) + " is not one of " + std::string(drivers::data_type_names());
             t.type = *type;
             return {};
         },
         [](const TagConfig& t) { return ib::quoted(drivers::data_type_name(t.type)); }},
        {"access", Kind::String, "\"read\"", "`read` (polled), `write` (written only) or `rw` (both).", 0, 0,
         [](TagConfig& t, const toml::node& n) -> std::string {
             std::string s = str(n);
             if (s == "read" || s == "r") t.access = Access::Read;
             else if (s == "write" || s == "w") t.access = Access::Write;
             else if (s == "rw" || s == "read-write") t.access = Access::ReadWrite;
             else return ib::quoted(s) + " is not one of read, write, rw";
             return {};
         },
         [](const TagConfig& t) { return ib::quoted(drivers::access_name(t.access)); }},
        {"scale", Kind::Float, "1.0", "Reported value = raw * scale + offset (writes apply the inverse).", 0, 0,
         [](TagConfig& t, const toml::node& n) -> std::string {
             t.scale = number(n);
             return t.scale == 0 || !std::isfinite(t.scale) ? "must be a finite number other than 0" : "";
         },
         [](const TagConfig& t) { return json_number(t.scale); }},
        {"offset", Kind::Float, "0.0", "Added after scaling.", 0, 0,
         [](TagConfig& t, const toml::node& n) -> std::string {
             t.offset = number(n);
             return std::isfinite(t.offset) ? "" : "must be a finite number";
         },
         [](const TagConfig& t) { return json_number(t.offset); }},
        {"unit", Kind::String, "\"\"", "Engineering unit, for people (e.g. degC).", 0, 0,
         [](TagConfig& t, const toml::node& n) {
             t.set_unit(str(n));
             return std::string();
         },
         [](const TagConfig& t) { return ib::quoted(t.unit()); }},
        {"on_change", Kind::Boolean, "false", "Report the tag only when it changed by more than `deadband`.", 0, 0,
         [](TagConfig& t, const toml::node& n) {
             t.on_change = n.as_boolean()->get();
             return std::string();
         },
         [](const TagConfig& t) { return std::string(t.on_change ? "true" : "false"); }},
        {"deadband", Kind::Float, "0.0", "With on_change: the least change of a number that is reported.", 0, 0,
         [](TagConfig& t, const toml::node& n) -> std::string {
             t.deadband = number(n);
             return t.deadband >= 0 && std::isfinite(t.deadband) ? "" : "must be 0 or more";
         },
         [](const TagConfig& t) { return json_number(t.deadband); }},
    };
    return f;
}


std::string tag_json_fields(const TagConfig& t) {
    std::string out = "{";
    for (const auto& f : tag_fields()) {
        if (out.size() > 1) out += ",";
        out += ib::quoted(f.name) + ":" + f.json(t);
    }
    return out + "}";
}

}  // namespace

std::optional<TagConfig> parse_tag(const toml::table& table, const DeviceConfig& device, const std::string& display,
                                   const ReportProblem& report, AddressCheck check) {
    TagConfig tag;
    if (!apply_fields(table, tag_fields(), {}, tag, display, line_of(table), report)) return std::nullopt;
    if (std::string why = check(device, tag); !why.empty()) {
        const toml::node* n = table.get("address");
        report(n ? line_of(*n) : line_of(table), join(display, "address") + ": " + why);
        return std::nullopt;
    }
    return tag;
}

std::optional<GroupConfig> parse_group(const toml::table& table, const DeviceConfig& device,
                                       const std::string& display, const ReportProblem& report, AddressCheck check) {
    GroupConfig group;
    bool ok = apply_fields(table, group_fields(), {"tags"}, group, display, line_of(table), report);
    if (ok && group.mode == GroupMode::Subscribe && device.driver != DriverKind::OpcUa) {
        const toml::node* n = table.get("mode");
        report(n ? line_of(*n) : line_of(table),
               join(display, "mode") + ": subscribe needs driver opcua; driver " +
                   std::string(driver_name(device.driver)) + " can only poll");
        ok = false;
    }
    if (const toml::array* tags = child_array(table, "tags", display, report)) {
        // Sized once: grown by doubling, a group of 10,000 tags kept room for 16,384.
        group.tags.reserve(tags->size());
        for (size_t i = 0; i < tags->size(); ++i) {
            std::string path = join(display, "tags") + "[" + std::to_string(i) + "]";
            const toml::table* t = as_table(*tags->get(i), path, report);
            if (t == nullptr) {
                ok = false;
                continue;
            }
            auto tag = parse_tag(*t, device, path, report, check);
            if (tag) group.tags.push_back(std::move(*tag));
            else ok = false;
        }
    } else if (table.contains("tags")) {
        ok = false;
    }
    if (!ok) return std::nullopt;
    return group;
}

std::optional<DeviceConfig> parse_device(const toml::table& table, const std::string& display,
                                         const ReportProblem& report, AddressCheck check) {
    DeviceConfig device;
    bool ok = apply_fields(table, device_fields(), {"groups"}, device, display, line_of(table), report);
    if (!ok) return std::nullopt;  // tags are checked against the driver and base: those must be right first
    if (device.driver == DriverKind::ModbusRtu && device.serial.port.empty()) {
        report(line_of(table), join(display, "serial_port") + ": is required for driver modbus-rtu");
        ok = false;
    }
    if (device.driver == DriverKind::OpcUa && device.opcua.endpoint.empty()) {
        report(line_of(table), join(display, "endpoint") + ": is required for driver opcua");
        ok = false;
    }
    if (device.driver == DriverKind::OpcUa && device.opcua.username.empty() != device.opcua.password.empty()) {
        report(line_of(table), join(display, device.opcua.username.empty() ? "username" : "password") +
                                   ": username and password go together");
        ok = false;
    }
    if (device.opcua.user_certificate.empty() != device.opcua.user_key.empty()) {
        report(line_of(table), join(display, device.opcua.user_certificate.empty() ? "user_certificate" : "user_key") +
                                   ": user_certificate and user_key go together");
        ok = false;
    }
    if (!device.opcua.username.empty() && !device.opcua.user_certificate.empty()) {
        report(line_of(table), join(display, "user_certificate") + ": a device logs in with username or user_certificate, not both");
        ok = false;
    }
    if (device.reconnect_min > device.reconnect_max) {
        report(line_of(table), join(display, "reconnect_min_ms") + ": is above reconnect_max_ms");
        ok = false;
    }
    if (const toml::array* groups = child_array(table, "groups", display, report)) {
        for (size_t i = 0; i < groups->size(); ++i) {
            std::string path = join(display, "groups") + "[" + std::to_string(i) + "]";
            const toml::table* t = as_table(*groups->get(i), path, report);
            if (t == nullptr) {
                ok = false;
                continue;
            }
            auto group = parse_group(*t, device, path, report, check);
            if (group) device.groups.push_back(std::move(*group));
            else ok = false;
        }
    } else if (table.contains("groups")) {
        ok = false;
    }
    if (!ok) return std::nullopt;
    std::vector<std::string> problems = check_device(device);
    for (std::string& p : problems) report(line_of(table), join(display, p));
    if (!problems.empty()) return std::nullopt;
    return device;
}

std::string tag_name_taken(std::string_view name) {
    return "name: \"" + std::string(name) + "\" is already the name of another tag of this device";
}

std::vector<std::string> check_device(const DeviceConfig& device) {
    std::vector<std::string> out;
    std::set<std::string_view> groups;
    std::set<std::string_view> tags;
    for (size_t g = 0; g < device.groups.size(); ++g) {
        const GroupConfig& group = device.groups[g];
        if (!groups.insert(group.name).second) {
            out.push_back("groups[" + std::to_string(g) + "].name: \"" + group.name +
                          "\" is already the name of another group of this device");
        }
        for (size_t t = 0; t < group.tags.size(); ++t) {
            if (!tags.insert(group.tags[t].name()).second) {
                out.push_back("groups[" + std::to_string(g) + "].tags[" + std::to_string(t) + "]." +
                              tag_name_taken(group.tags[t].name()));
            }
        }
    }
    return out;
}

// ------------------------------------------------------------------- JSON
namespace {

std::string joined(const std::vector<std::string>& lines) {
    std::string out;
    for (const auto& l : lines) out += (out.empty() ? "" : "\n") + l;
    return out;
}

}  // namespace

std::expected<DeviceConfig, std::string> device_from_json(std::string_view json, AddressCheck check) {
    auto table = config::json_object(json);
    if (!table) return std::unexpected(table.error());
    std::vector<std::string> problems;
    auto device =
        parse_device(*table, "", [&](uint32_t, std::string text) { problems.push_back(std::move(text)); }, check);
    if (!device) return std::unexpected(joined(problems));
    return *device;
}

std::expected<GroupConfig, std::string> group_from_json(std::string_view json, const DeviceConfig& device,
                                                        AddressCheck check) {
    auto table = config::json_object(json);
    if (!table) return std::unexpected(table.error());
    std::vector<std::string> problems;
    auto group = parse_group(
        *table, device, "", [&](uint32_t, std::string text) { problems.push_back(std::move(text)); }, check);
    if (!group) return std::unexpected(joined(problems));
    return *group;
}

std::expected<TagConfig, std::string> tag_from_json(std::string_view json, const DeviceConfig& device,
                                                    AddressCheck check) {
    auto table = config::json_object(json);
    if (!table) return std::unexpected(table.error());
    std::vector<std::string> problems;
    auto tag = parse_tag(
        *table, device, "", [&](uint32_t, std::string text) { problems.push_back(std::move(text)); }, check);
    if (!tag) return std::unexpected(joined(problems));
    return *tag;
}

std::string tag_to_json(const TagConfig& tag) { return tag_json_fields(tag); }

std::string group_to_json(const GroupConfig& group) {
    std::string out = "{";
    for (const auto& f : group_fields()) out += ib::quoted(f.name) + ":" + f.json(group) + ",";
    out += "\"tags\":[";
    for (size_t i = 0; i < group.tags.size(); ++i) out += (i ? "," : "") + tag_json_fields(group.tags[i]);
    return out + "]}";
}

std::string device_to_json(const DeviceConfig& device, Secrets secrets) {
    std::string out = "{";
    for (const auto& f : device_fields()) {
        std::string value = f.json(device);
        if (f.secret && secrets == Secrets::Masked && value != "\"\"") value = ib::quoted(config::fields::kSecretMask);
        out += ib::quoted(f.name) + ":" + value + ",";
    }
    out += "\"groups\":[";
    for (size_t i = 0; i < device.groups.size(); ++i) out += (i ? "," : "") + group_to_json(device.groups[i]);
    return out + "]}";
}

void keep_masked_secrets(DeviceConfig& edited, const DeviceConfig& in_force) {
    if (edited.opcua.password == config::fields::kSecretMask) edited.opcua.password = in_force.opcua.password;
}

std::string render_devices_markdown() {
    std::string out;
    out += "\n## [[devices]]\n\n"
           "Each `[[devices]]` table is one device polled by a driver. Devices created through\n"
           "the REST API take the same keys in JSON and are kept in the data directory.\n"
           "A device's tag names are unique in the device; group names in the device.\n\n";
    out += render_markdown(device_fields());
    out += "\n## [[devices.groups]]\n\nA group's tags are read together, every `interval_ms`, and published as one\n"
           "message on `ib/data/{device}/{group}`. An OPC UA group subscribes by default: the\n"
           "server samples every `interval_ms` and the changes are published as they arrive.\n\n";
    out += render_markdown(group_fields());
    out += "\n## [[devices.groups.tags]]\n\n";
    out += render_markdown(tag_fields());
    return out;
}

config::TableList device_tables(std::vector<DeviceConfig>& out, AddressCheck check) {
    return config::named_tables<DeviceConfig>(
        "devices", "device", "name",
        [check](const toml::table& t, const std::string& display, const ReportProblem& report) {
            return parse_device(t, display, report, check);
        },
        [](const DeviceConfig& d) -> const std::string& { return d.name; }, render_devices_markdown, out);
}

}  // namespace ib::drivers
