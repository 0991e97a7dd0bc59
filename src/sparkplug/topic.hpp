// Sparkplug topics (Eclipse Sparkplug 3.0 §4.1): building the edge node's own
// and reading the commands and host states it receives. Pure, no I/O.
//   spBv1.0/{group_id}/{message_type}/{edge_node_id}[/{device_id}]
//   spBv1.0/STATE/{host_id}
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ib::sparkplug {

inline constexpr std::string_view kNamespace = "spBv1.0";

enum class MessageType : uint8_t { NBIRTH, NDEATH, DBIRTH, DDEATH, NDATA, DDATA, NCMD, DCMD, STATE };

std::string_view message_type_name(MessageType type);

// An id (group, edge node, device, host): §4.1.1 allows any UTF-8 but the
// characters that would split or match topic levels. "" when `id` is valid,
// else why not.
std::string id_problem(std::string_view id);

// spBv1.0/{group}/{type}/{edge}[/{device}]; `device` empty for node messages.
std::string topic(std::string_view group, MessageType type, std::string_view edge, std::string_view device = {});
// spBv1.0/STATE/{host}
std::string state_topic(std::string_view host);

struct ParsedTopic {
    MessageType type = MessageType::NDATA;
    std::string_view group;   // empty for STATE
    std::string_view edge;    // empty for STATE
    std::string_view device;  // empty for node messages
    std::string_view host;    // STATE only
};

// Views into `topic`; nullopt when it is not a Sparkplug B topic.
std::optional<ParsedTopic> parse_topic(std::string_view topic);

}  // namespace ib::sparkplug
