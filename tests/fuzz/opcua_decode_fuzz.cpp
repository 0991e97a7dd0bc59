// libFuzzer target for the OPC UA client's decoders. The input is read three ways:
//  - as a byte stream from a server: framed by next_frame, HEL/ACK/ERR bodies
//    decoded, MSG/OPN/CLO chunks decoded and reassembled (limits, abort chunks,
//    sequence numbers), and every reassembled body decoded as a response; each
//    chunk also decoded as on a secured channel (Sign, SignAndEncrypt), so the
//    checks before a signature verifies (sizes, blocks, the OPN header) see it;
//  - as a service message body on its own (decode_response), and as each
//    built-in type the responses nest (Variant, DataValue, ExtensionObject,
//    DiagnosticInfo), so mutations reach them without the framing around;
//  - as the text of an ExpandedNodeId.
// Invariants: errors carry a message and an offset inside the input; whatever
// decodes re-encodes to bytes that decode again and re-encode identically; a
// parsed NodeId formats to text that parses to the same NodeId.
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "drivers/opcua/message_assembler.hpp"
#include "drivers/opcua/node_id.hpp"
#include "drivers/opcua/service_message.hpp"
#include "drivers/opcua/uacp.hpp"

namespace {

using namespace ib::drivers::opcua;
using ib::Bytes;

[[noreturn]] void broken(const char* what) {
    std::fprintf(stderr, "opcua invariant broken: %s\n", what);
    std::abort();
}

void check(bool ok, const char* what) {
    if (!ok) broken(what);
}

template <typename T>
void check_error(const ib::Result<T>& r, std::size_t size) {
    if (r) return;
    check(r.error().message != nullptr && r.error().message[0] != '\0', "error without a message");
    check(r.error().offset <= size, "error offset beyond the input");
}

void check_response_round_trip(const Response& response) {
    std::vector<std::byte> first;
    std::visit([&](const auto& m) { encode_message_body(first, m); }, response);
    auto again = decode_response(Bytes(first));
    if (!again) {
        std::fprintf(stderr, "re-decode failed at %zu: %s\n", again.error().offset, again.error().message);
        broken("a re-encoded response does not decode");
    }
    check(again->index() == response.index(), "a re-encoded response decodes as another type");
    std::vector<std::byte> second;
    std::visit([&](const auto& m) { encode_message_body(second, m); }, *again);
    check(second == first, "a response's second encoding differs from its first");
}

void check_notifications(const Response& response) {
    const auto* publish = std::get_if<PublishResponse>(&response);
    if (publish == nullptr) return;
    for (const ExtensionObject& eo : publish->notification_message.notification_data) {
        check_error(decode_extension_object_body<DataChangeNotification>(eo), eo.body.size());
        check_error(decode_extension_object_body<StatusChangeNotification>(eo), eo.body.size());
    }
}

void consume_body(Bytes body) {
    auto r = decode_response(body);
    check_error(r, body.size());
    if (!r) return;
    check_response_round_trip(*r);
    check_notifications(*r);
}

// Basic256Sha256 channels with fixed symmetric keys (no RSA keys: an OPN chunk
// is refused before any would be used).
const ChannelSecurity& secured(MessageSecurityMode mode) {
    const auto make = [](MessageSecurityMode m) {
        ChannelSecurity s;
        s.policy = policy_algorithms(SecurityPolicy::Basic256Sha256);
        s.mode = m;
        const std::vector<std::byte> client(32, std::byte{1});
        const std::vector<std::byte> server(32, std::byte{2});
        s.derive(Bytes(client), Bytes(server));
        return s;
    };
    static const ChannelSecurity sign = make(MessageSecurityMode::Sign);
    static const ChannelSecurity encrypt = make(MessageSecurityMode::SignAndEncrypt);
    return mode == MessageSecurityMode::Sign ? sign : encrypt;
}

void consume_secured(const Frame& f) {
    static std::vector<std::byte> plain;
    for (MessageSecurityMode mode : {MessageSecurityMode::Sign, MessageSecurityMode::SignAndEncrypt}) {
        auto chunk = decode_chunk(f, &secured(mode), plain);
        check_error(chunk, f.message.size());
    }
}

void consume_stream(Bytes input) {
    MessageAssembler assembler({1 << 20, 64});
    Bytes rest = input;
    for (;;) {
        auto frame = next_frame(rest, 1 << 16);
        check_error(frame, rest.size());
        if (!frame || !*frame) return;
        const Frame& f = **frame;
        check(f.message.size() == f.header.size && f.message.size() <= rest.size() &&
                  f.message.size() >= kMessageHeaderSize,
              "frame size outside the buffer");
        const Bytes body = f.message.subspan(kMessageHeaderSize);
        switch (f.header.type) {
            case MessageType::Hello: check_error(decode_hello(body), f.message.size()); break;
            case MessageType::Acknowledge: check_error(decode_acknowledge(body), f.message.size()); break;
            case MessageType::Error: {
                BinaryReader r{body, kMessageHeaderSize};
                check_error(decode_error_message(r), f.message.size());
                break;
            }
            case MessageType::ReverseHello: break;
            default: {
                consume_secured(f);
                auto chunk = decode_chunk(f);
                check_error(chunk, f.message.size());
                if (!chunk) break;
                check(chunk->body.data() >= f.message.data() &&
                          chunk->body.data() + chunk->body.size() == f.message.data() + f.message.size(),
                      "chunk body outside its frame");
                auto event = assembler.add(*chunk);
                if (!event) {
                    check_error(event, f.message.size());
                    return;  // the channel would be closed here
                }
                if (const auto* m = std::get_if<AssembledMessage>(&*event)) consume_body(m->body);
            }
        }
        rest = rest.subspan(f.message.size());
    }
}

template <typename Decode>
void consume_as(Bytes input, Decode&& decode) {
    BinaryReader r{input};
    auto v = decode(r);
    check_error(v, input.size());
    if (v) check(r.offset() <= input.size(), "reader past the end");
}

void consume_node_id_text(Bytes input) {
    const std::string_view text = ib::as_string_view(input);
    auto id = parse_expanded_node_id(text);
    check_error(id, text.size());
    if (!id) return;
    const std::string formatted = to_string(*id);
    auto again = parse_expanded_node_id(formatted);
    check(again.has_value(), "a formatted NodeId does not parse");
    check(*again == *id, "a formatted NodeId parses to another NodeId");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    const Bytes input(reinterpret_cast<const std::byte*>(data), size);
    consume_stream(input);
    consume_body(input);
    consume_as(input, decode_variant);
    consume_as(input, decode_data_value);
    consume_as(input, decode_extension_object);
    consume_as(input, decode_diagnostic_info);
    consume_as(input, decode_expanded_node_id);
    consume_node_id_text(input);
    return 0;
}
