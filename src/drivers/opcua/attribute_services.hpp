// Attribute service set (OPC 10000-4 §5.10): Read and Write. Field order from
// OPC 10000-6 Annex C; encoding ids from Annex A (NodeIds.csv).
#pragma once

#include <string>
#include <vector>

#include "drivers/opcua/service_header.hpp"

namespace ib::drivers::opcua {

// P4 §7.35 (Part 6 Annex A.1 for the ids): the attributes a collector reads.
enum class AttributeId : uint32_t {
    NodeId = 1,
    NodeClass = 2,
    BrowseName = 3,
    DisplayName = 4,
    Value = 13,
    DataType = 14,
    ValueRank = 15,
    ArrayDimensions = 16,
    AccessLevel = 17,
    UserAccessLevel = 18,
};

// P4 §5.10.2.2
enum class TimestampsToReturn : int32_t { Source = 0, Server = 1, Both = 2, Neither = 3 };

// P4 §7.24
struct ReadValueId {
    NodeId node_id;
    uint32_t attribute_id = static_cast<uint32_t>(AttributeId::Value);
    std::string index_range;
    QualifiedName data_encoding;

    template <typename S, typename F>
    static void visit(S& s, F&& f) { f(s.node_id), f(s.attribute_id), f(s.index_range), f(s.data_encoding); }
    bool operator==(const ReadValueId&) const = default;
};

// P4 §5.10.2
struct ReadRequest {
    static constexpr uint32_t kEncodingId = 631;
    RequestHeader request_header;
    double max_age = 0;  // ms; 0: read from the device now
    TimestampsToReturn timestamps_to_return = TimestampsToReturn::Both;
    std::vector<ReadValueId> nodes_to_read;

    template <typename S, typename F>
    static void visit(S& s, F&& f) { f(s.request_header), f(s.max_age), f(s.timestamps_to_return), f(s.nodes_to_read); }
    bool operator==(const ReadRequest&) const = default;
};

struct ReadResponse {
    static constexpr uint32_t kEncodingId = 634;
    ResponseHeader response_header;
    std::vector<DataValue> results;  // one per node, in request order
    std::vector<DiagnosticInfo> diagnostic_infos;

    template <typename S, typename F>
    static void visit(S& s, F&& f) { f(s.response_header), f(s.results), f(s.diagnostic_infos); }
    bool operator==(const ReadResponse&) const = default;
};

// P4 §5.10.4.2
struct WriteValue {
    NodeId node_id;
    uint32_t attribute_id = static_cast<uint32_t>(AttributeId::Value);
    std::string index_range;
    DataValue value;  // the Variant's type must be the node's DataType exactly

    template <typename S, typename F>
    static void visit(S& s, F&& f) { f(s.node_id), f(s.attribute_id), f(s.index_range), f(s.value); }
    bool operator==(const WriteValue&) const = default;
};

struct WriteRequest {
    static constexpr uint32_t kEncodingId = 673;
    RequestHeader request_header;
    std::vector<WriteValue> nodes_to_write;

    template <typename S, typename F>
    static void visit(S& s, F&& f) { f(s.request_header), f(s.nodes_to_write); }
    bool operator==(const WriteRequest&) const = default;
};

struct WriteResponse {
    static constexpr uint32_t kEncodingId = 676;
    ResponseHeader response_header;
    std::vector<StatusCode> results;
    std::vector<DiagnosticInfo> diagnostic_infos;

    template <typename S, typename F>
    static void visit(S& s, F&& f) { f(s.response_header), f(s.results), f(s.diagnostic_infos); }
    bool operator==(const WriteResponse&) const = default;
};

}  // namespace ib::drivers::opcua
