// View service set (OPC 10000-4 §5.8): Browse, BrowseNext and
// TranslateBrowsePathsToNodeIds. Field order from OPC 10000-6 Annex C; encoding
// ids from Annex A (NodeIds.csv).
#pragma once

#include <string>
#include <vector>

#include "drivers/opcua/service_header.hpp"

namespace ib::drivers::opcua {

// P4 §7.39 (ViewDescription): the null view browses the whole address space.
struct ViewDescription {
    NodeId view_id;
    DateTime timestamp;
    uint32_t view_version = 0;

    template <typename S, typename F>
    static void visit(S& s, F&& f) { f(s.view_id), f(s.timestamp), f(s.view_version); }
    bool operator==(const ViewDescription&) const = default;
};

// P4 §5.8.2.2
enum class BrowseDirection : int32_t { Forward = 0, Inverse = 1, Both = 2 };

// P3 §8.29 / P4 §7.13: NodeClass bits, also the BrowseDescription's NodeClassMask.
enum class NodeClass : int32_t {
    Unspecified = 0,
    Object = 1,
    Variable = 2,
    Method = 4,
    ObjectType = 8,
    VariableType = 16,
    ReferenceType = 32,
    DataType = 64,
    View = 128,
};

// P4 §5.8.2.2: ResultMask bits; 63 asks for every field of ReferenceDescription.
inline constexpr uint32_t kBrowseResultAll = 63;
// Well-known reference type (P5): HierarchicalReferences, i=33.
inline constexpr uint32_t kHierarchicalReferences = 33;

struct BrowseDescription {
    NodeId node_id;
    BrowseDirection browse_direction = BrowseDirection::Forward;
    NodeId reference_type_id = NodeId{0, kHierarchicalReferences};
    bool include_subtypes = true;
    uint32_t node_class_mask = 0;  // 0: every class
    uint32_t result_mask = kBrowseResultAll;

    template <typename S, typename F>
    static void visit(S& s, F&& f) {
        f(s.node_id), f(s.browse_direction), f(s.reference_type_id), f(s.include_subtypes), f(s.node_class_mask);
        f(s.result_mask);
    }
    bool operator==(const BrowseDescription&) const = default;
};

// P4 §7.25
struct ReferenceDescription {
    NodeId reference_type_id;
    bool is_forward = true;
    ExpandedNodeId node_id;
    QualifiedName browse_name;
    LocalizedText display_name;
    NodeClass node_class = NodeClass::Unspecified;
    ExpandedNodeId type_definition;

    template <typename S, typename F>
    static void visit(S& s, F&& f) {
        f(s.reference_type_id), f(s.is_forward), f(s.node_id), f(s.browse_name), f(s.display_name);
        f(s.node_class), f(s.type_definition);
    }
    bool operator==(const ReferenceDescription&) const = default;
};

// P4 §7.3
struct BrowseResult {
    StatusCode status_code;
    ByteString continuation_point;  // non-empty: BrowseNext for the rest, or release it
    std::vector<ReferenceDescription> references;

    template <typename S, typename F>
    static void visit(S& s, F&& f) { f(s.status_code), f(s.continuation_point), f(s.references); }
    bool operator==(const BrowseResult&) const = default;
};

// P4 §5.8.2
struct BrowseRequest {
    static constexpr uint32_t kEncodingId = 527;
    RequestHeader request_header;
    ViewDescription view;
    uint32_t requested_max_references_per_node = 0;  // 0: the server decides
    std::vector<BrowseDescription> nodes_to_browse;

    template <typename S, typename F>
    static void visit(S& s, F&& f) {
        f(s.request_header), f(s.view), f(s.requested_max_references_per_node), f(s.nodes_to_browse);
    }
    bool operator==(const BrowseRequest&) const = default;
};

struct BrowseResponse {
    static constexpr uint32_t kEncodingId = 530;
    ResponseHeader response_header;
    std::vector<BrowseResult> results;
    std::vector<DiagnosticInfo> diagnostic_infos;

    template <typename S, typename F>
    static void visit(S& s, F&& f) { f(s.response_header), f(s.results), f(s.diagnostic_infos); }
    bool operator==(const BrowseResponse&) const = default;
};

// P4 §5.8.3
struct BrowseNextRequest {
    static constexpr uint32_t kEncodingId = 533;
    RequestHeader request_header;
    bool release_continuation_points = false;
    std::vector<ByteString> continuation_points;

    template <typename S, typename F>
    static void visit(S& s, F&& f) { f(s.request_header), f(s.release_continuation_points), f(s.continuation_points); }
    bool operator==(const BrowseNextRequest&) const = default;
};

struct BrowseNextResponse {
    static constexpr uint32_t kEncodingId = 536;
    ResponseHeader response_header;
    std::vector<BrowseResult> results;
    std::vector<DiagnosticInfo> diagnostic_infos;

    template <typename S, typename F>
    static void visit(S& s, F&& f) { f(s.response_header), f(s.results), f(s.diagnostic_infos); }
    bool operator==(const BrowseNextResponse&) const = default;
};

// P4 §7.26
struct RelativePathElement {
    NodeId reference_type_id = NodeId{0, kHierarchicalReferences};
    bool is_inverse = false;
    bool include_subtypes = true;
    QualifiedName target_name;

    template <typename S, typename F>
    static void visit(S& s, F&& f) { f(s.reference_type_id), f(s.is_inverse), f(s.include_subtypes), f(s.target_name); }
    bool operator==(const RelativePathElement&) const = default;
};

struct RelativePath {
    std::vector<RelativePathElement> elements;

    template <typename S, typename F>
    static void visit(S& s, F&& f) { f(s.elements); }
    bool operator==(const RelativePath&) const = default;
};

// P4 §5.8.4.2
struct BrowsePath {
    NodeId starting_node;
    RelativePath relative_path;

    template <typename S, typename F>
    static void visit(S& s, F&& f) { f(s.starting_node), f(s.relative_path); }
    bool operator==(const BrowsePath&) const = default;
};

struct BrowsePathTarget {
    ExpandedNodeId target_id;
    uint32_t remaining_path_index = 0;  // UInt32 max: the whole path was followed

    template <typename S, typename F>
    static void visit(S& s, F&& f) { f(s.target_id), f(s.remaining_path_index); }
    bool operator==(const BrowsePathTarget&) const = default;
};

struct BrowsePathResult {
    StatusCode status_code;
    std::vector<BrowsePathTarget> targets;

    template <typename S, typename F>
    static void visit(S& s, F&& f) { f(s.status_code), f(s.targets); }
    bool operator==(const BrowsePathResult&) const = default;
};

struct TranslateBrowsePathsToNodeIdsRequest {
    static constexpr uint32_t kEncodingId = 554;
    RequestHeader request_header;
    std::vector<BrowsePath> browse_paths;

    template <typename S, typename F>
    static void visit(S& s, F&& f) { f(s.request_header), f(s.browse_paths); }
    bool operator==(const TranslateBrowsePathsToNodeIdsRequest&) const = default;
};

struct TranslateBrowsePathsToNodeIdsResponse {
    static constexpr uint32_t kEncodingId = 557;
    ResponseHeader response_header;
    std::vector<BrowsePathResult> results;
    std::vector<DiagnosticInfo> diagnostic_infos;

    template <typename S, typename F>
    static void visit(S& s, F&& f) { f(s.response_header), f(s.results), f(s.diagnostic_infos); }
    bool operator==(const TranslateBrowsePathsToNodeIdsResponse&) const = default;
};

}  // namespace ib::drivers::opcua
