// The standard string form of NodeIds and ExpandedNodeIds (OPC 10000-6 §5.3.1.10,
// §5.3.1.11; §5.1.12 in 1.05): `i=85`, `ns=2;s=Line1.Temp`, `ns=3;i=1001`,
// `g=<guid>`, `b=<base64>`, `nsu=<uri>;s=...`, `svr=1;...`. What follows `s=` is
// the identifier to the end, so Siemens ids (`ns=3;s="DB1"."Tag"`) and B&R ids
// (`ns=6;s=::AsGlobalPV:x`) pass unchanged. Used for configuration: errors are
// values naming the character offset, never exceptions.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "drivers/opcua/builtin_types.hpp"

namespace ib::drivers::opcua {

enum class NodeIdErrc : uint8_t {
    Syntax = 1,          // not the standard form
    NamespaceUnknown,    // an nsu= URI not in the server's NamespaceArray
};

// `ns=` and the identifier; an `nsu=` or `svr=` clause is an error here (it needs
// the server's tables: use parse_expanded_node_id and resolve).
Result<NodeId> parse_node_id(std::string_view text);

// Also `svr=<index>;` first and `nsu=<uri>;` instead of `ns=`, with the URI's
// `%3B` and `%25` (the reserved ';' and '%') decoded.
Result<ExpandedNodeId> parse_expanded_node_id(std::string_view text);

// The standard form: `ns=0;` omitted, Guids in lower case, opaque ids in base64.
std::string to_string(const NodeId& id);
std::string to_string(const ExpandedNodeId& id);
std::string to_string(const Guid& g);  // 72962b91-fa75-4ae6-8d28-b404dc7daf63

// An ExpandedNodeId given by namespace URI becomes a NodeId with that URI's index
// in the server's NamespaceArray (i=2255), read after every connect because
// indexes may change across server restarts.
Result<NodeId> resolve(const ExpandedNodeId& id, std::span<const std::string> namespace_array);

}  // namespace ib::drivers::opcua
