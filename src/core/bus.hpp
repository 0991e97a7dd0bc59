// The bus's conventions (DESIGN.md "Topic and payload conventions"): every topic
// under the deployment's prefix, and the write request and its result, are built
// and read here and nowhere else, so `bus.prefix` reaches devices, rules, the API
// and the bridges at once. Knows no MQTT and no device: names and JSON only.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace ib {

struct BusConfig {
    // The first topic levels of every bus topic: "ib" gives ib/data/plc1/fast.
    std::string prefix = "ib";
};

// "" when `prefix` can lead every bus topic, else why not: one or more
// non-empty topic levels with no wildcard, not a `$` topic (wildcard filters do
// not match those [MQTT-4.7.2-1]).
std::string bus_prefix_problem(std::string_view prefix);

class BusTopics {
public:
    // `prefix` was checked by the config loader (bus_prefix_problem).
    explicit BusTopics(std::string prefix);

    const std::string& prefix() const { return prefix_; }

    // <p>/data/<device>/<group>: a device's readings. Built once per group by
    // the device, not per reading.
    std::string data(std::string_view device, std::string_view group) const;
    // <p>/data/#: every reading (the history's default filter).
    std::string data_filter() const;
    // <p>/status/<device>: the device's link state, retained.
    std::string status(std::string_view device) const;
    // <p>/write/<device>: write requests to the device.
    std::string write(std::string_view device) const;
    // <p>/write/<device>/result: their results.
    std::string write_result(std::string_view device) const;
    // <p>/write/+: what the device manager subscribes to.
    std::string write_filter() const;
    // The device a <p>/write/<device> topic addresses; nullopt for any other
    // topic (a result topic included).
    std::optional<std::string_view> device_of_write(std::string_view topic) const;

    // Whether `name` can be a device's topic level: not empty, no '/', '+' or '#'.
    static bool is_topic_level(std::string_view name);

private:
    std::string join(std::string_view kind, std::string_view a, std::string_view b = {}) const;

    std::string prefix_;
};

// ---- Write requests: {"id":"r-17","tag":"setpoint","value":42.5} or {"id":..,"values":{..}}

// What JSON can carry to a tag; the same alternatives as drivers::Value, bytes
// as an array of numbers 0 to 255.
using WriteValue = std::variant<bool, int64_t, uint64_t, double, std::string, std::vector<uint8_t>>;

struct WriteRequestItem {
    std::string tag;
    // A value no tag could take (null, an object, bytes above 255) fails its tag
    // alone: the request's other tags are still written.
    std::expected<WriteValue, std::string> value;
};

struct WriteRequest {
    // The request's "id" as JSON text, echoed in the result; "null" when absent.
    std::string id = "null";
    std::vector<WriteRequestItem> items;  // in request order
};

enum class WriteRequestErrc : uint8_t {
    NotJson,        // the bytes are not JSON
    NotObject,      // JSON, but not an object
    BadTag,         // "tag" is not a string, or has no "value"
    BadValues,      // "values" is not an object, or is empty
    NoTagOrValues,  // neither "tag" nor "values"
};

struct WriteRequestError {
    WriteRequestErrc code;
    std::string id = "null";  // as in WriteRequest, when the request had one
    std::string message;
};

std::expected<WriteRequest, WriteRequestError> decode_write_request(std::string_view json);

// Appends {"id":<id>,"tag":<tag>,"value":<value_json>}; `value_json` is a JSON value.
void encode_write_request(std::string& out, std::string_view id, std::string_view tag, std::string_view value_json);
// Appends {"id":<id>,"values":<values_json>}; `values_json` is a JSON object of tags and values.
void encode_write_request_values(std::string& out, std::string_view id, std::string_view values_json);

// ---- Write results: {"id":..,"ok":true,"results":{"setpoint":{"ok":true}}}
//      or, for a request refused whole, {"id":..,"ok":false,"error":".."}

struct WriteTagResult {
    std::string tag;
    bool ok = true;
    uint16_t code = 0;  // when not ok: drivers::TagErrc or a Modbus exception code
    std::string error;
};

struct WriteResult {
    std::string id = "null";  // JSON text, as in WriteRequest
    bool ok = false;
    std::string error;  // the whole request refused: no per-tag results
    std::vector<WriteTagResult> results;
};

// Appends the result; `ok` is the result's own (every tag written).
void encode_write_result(std::string& out, const WriteResult& result);
// A refusal of the whole request.
void encode_write_refusal(std::string& out, std::string_view id_json, std::string_view error);
std::expected<WriteResult, std::string> decode_write_result(std::string_view json);

}  // namespace ib
