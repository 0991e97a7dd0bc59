#include "core/bus.hpp"

#include <simdjson.h>

#include "core/json_writer.hpp"

namespace ib {

std::string bus_prefix_problem(std::string_view prefix) {
    if (prefix.empty()) return "must not be empty";
    if (prefix.front() == '$') return "must not start with '$': wildcard subscriptions would not see its topics";
    if (prefix.front() == '/' || prefix.back() == '/' || prefix.find("//") != std::string_view::npos) {
        return "has an empty topic level (a leading, trailing or double '/')";
    }
    for (char c : prefix) {
        if (c == '+' || c == '#') return "must not hold the wildcards '+' or '#'";
        if (c == '\0') return "must not hold a NUL character";
    }
    return {};
}

BusTopics::BusTopics(std::string prefix) : prefix_(std::move(prefix)) {}

std::string BusTopics::join(std::string_view kind, std::string_view a, std::string_view b) const {
    std::string t;
    t.reserve(prefix_.size() + kind.size() + a.size() + b.size() + 3);
    t.append(prefix_).append(1, '/').append(kind);
    if (!a.empty()) t.append(1, '/').append(a);
    if (!b.empty()) t.append(1, '/').append(b);
    return t;
}

std::string BusTopics::data(std::string_view device, std::string_view group) const { return join("data", device, group); }
std::string BusTopics::data_filter() const { return join("data", "#"); }
std::string BusTopics::status(std::string_view device) const { return join("status", device); }
std::string BusTopics::write(std::string_view device) const { return join("write", device); }
std::string BusTopics::write_result(std::string_view device) const { return join("write", device, "result"); }
std::string BusTopics::write_filter() const { return join("write", "+"); }

std::optional<std::string_view> BusTopics::device_of_write(std::string_view topic) const {
    constexpr std::string_view kWrite = "/write/";
    if (!topic.starts_with(prefix_) || topic.substr(prefix_.size(), kWrite.size()) != kWrite) return std::nullopt;
    std::string_view device = topic.substr(prefix_.size() + kWrite.size());
    if (!is_topic_level(device)) return std::nullopt;
    return device;
}

bool BusTopics::is_topic_level(std::string_view name) {
    return !name.empty() && name.find_first_of("/+#") == std::string_view::npos;
}

namespace {

std::expected<WriteValue, std::string> value_from_json(simdjson::dom::element e) {
    using simdjson::dom::element_type;
    switch (e.type()) {
        case element_type::BOOL: return WriteValue(e.get_bool().value());
        case element_type::INT64: return WriteValue(e.get_int64().value());
        case element_type::UINT64: return WriteValue(e.get_uint64().value());
        case element_type::DOUBLE: return WriteValue(e.get_double().value());
        case element_type::STRING: return WriteValue(std::string(e.get_string().value()));
        case element_type::ARRAY: {
            std::vector<uint8_t> bytes;
            for (auto item : e.get_array()) {
                int64_t b = 0;
                if (item.get_int64().get(b) || b < 0 || b > 255) {
                    return std::unexpected(std::string("an array value must hold numbers 0 to 255 (bytes)"));
                }
                bytes.push_back(static_cast<uint8_t>(b));
            }
            return WriteValue(std::move(bytes));
        }
        default: return std::unexpected(std::string("a value must be a boolean, a number, a string or bytes"));
    }
}

}  // namespace

std::expected<WriteRequest, WriteRequestError> decode_write_request(std::string_view json) {
    simdjson::dom::parser parser;
    simdjson::padded_string padded(json);
    simdjson::dom::element root;
    WriteRequest request;
    auto fail = [&](WriteRequestErrc code, std::string message) {
        return std::unexpected(WriteRequestError{code, request.id, std::move(message)});
    };
    if (auto err = parser.parse(padded).get(root); err) {
        return fail(WriteRequestErrc::NotJson, std::string("the request is not valid JSON: ") + simdjson::error_message(err));
    }
    if (!root.is_object()) return fail(WriteRequestErrc::NotObject, "the request must be a JSON object");
    simdjson::dom::element id;
    if (!root["id"].get(id)) request.id = simdjson::minify(id);

    simdjson::dom::element tag;
    simdjson::dom::element values;
    if (!root["tag"].get(tag)) {
        std::string_view name;
        if (tag.get_string().get(name)) return fail(WriteRequestErrc::BadTag, "\"tag\" must be a string");
        simdjson::dom::element value;
        if (root["value"].get(value)) return fail(WriteRequestErrc::BadTag, "\"tag\" needs a \"value\"");
        request.items.push_back({std::string(name), value_from_json(value)});
    } else if (!root["values"].get(values)) {
        simdjson::dom::object object;
        if (values.get_object().get(object)) {
            return fail(WriteRequestErrc::BadValues, "\"values\" must be an object of tag names and values");
        }
        for (auto [k, v] : object) request.items.push_back({std::string(k), value_from_json(v)});
        if (request.items.empty()) return fail(WriteRequestErrc::BadValues, "\"values\" is empty");
    } else {
        return fail(WriteRequestErrc::NoTagOrValues,
                    "expected {\"id\":..,\"tag\":..,\"value\":..} or {\"id\":..,\"values\":{..}}");
    }
    return request;
}

void encode_write_request(std::string& out, std::string_view id, std::string_view tag, std::string_view value_json) {
    JsonWriter(out).begin_object().field("id", id).field("tag", tag).raw_field("value", value_json).end_object();
}

void encode_write_request_values(std::string& out, std::string_view id, std::string_view values_json) {
    JsonWriter(out).begin_object().field("id", id).raw_field("values", values_json).end_object();
}

void encode_write_result(std::string& out, const WriteResult& result) {
    if (!result.error.empty()) return encode_write_refusal(out, result.id, result.error);
    JsonWriter w(out);
    w.begin_object().raw_field("id", result.id).field("ok", result.ok).key("results").begin_object();
    for (const WriteTagResult& r : result.results) {
        w.key(r.tag).begin_object().field("ok", r.ok);
        if (!r.ok) w.field("code", r.code).field("error", r.error);
        w.end_object();
    }
    w.end_object().end_object();
}

void encode_write_refusal(std::string& out, std::string_view id_json, std::string_view error) {
    JsonWriter(out).begin_object().raw_field("id", id_json).field("ok", false).field("error", error).end_object();
}

std::expected<WriteResult, std::string> decode_write_result(std::string_view json) {
    simdjson::dom::parser parser;
    simdjson::padded_string padded(json);
    simdjson::dom::element root;
    if (auto err = parser.parse(padded).get(root); err) {
        return std::unexpected(std::string("the result is not valid JSON: ") + simdjson::error_message(err));
    }
    simdjson::dom::object object;
    if (root.get_object().get(object)) return std::unexpected(std::string("the result must be a JSON object"));
    WriteResult result;
    simdjson::dom::element id;
    if (!object["id"].get(id)) result.id = simdjson::minify(id);
    if (object["ok"].get_bool().get(result.ok)) return std::unexpected(std::string("\"ok\" must be a boolean"));
    if (auto e = object["error"]; !e.error()) {
        std::string_view text;
        if (e.get_string().get(text)) return std::unexpected(std::string("\"error\" must be a string"));
        result.error = std::string(text);
        if (result.ok) return std::unexpected(std::string("a result with an \"error\" cannot be ok"));
        return result;
    }
    simdjson::dom::object results;
    if (object["results"].get_object().get(results)) {
        return std::unexpected(std::string("expected \"results\" (an object of tags) or \"error\""));
    }
    for (auto [tag, value] : results) {
        WriteTagResult r;
        r.tag = std::string(tag);
        simdjson::dom::object o;
        if (value.get_object().get(o) || o["ok"].get_bool().get(r.ok)) {
            return std::unexpected("result of tag '" + r.tag + "': expected {\"ok\":true} or {\"ok\":false,..}");
        }
        if (!r.ok) {
            uint64_t code = 0;
            std::string_view text;
            if (o["code"].get_uint64().get(code) || code > UINT16_MAX || o["error"].get_string().get(text)) {
                return std::unexpected("result of tag '" + r.tag + "': a failure needs \"code\" and \"error\"");
            }
            r.code = static_cast<uint16_t>(code);
            r.error = std::string(text);
        }
        result.results.push_back(std::move(r));
    }
    return result;
}

}  // namespace ib
