// The body of a service message (OPC 10000-6 §5.2.9 via §6.7.2): the NodeId of
// the type's DefaultBinary encoding (Annex A), then the structure. Requests are
// encoded by type; a response body is decoded into whichever response (or
// ServiceFault) its encoding id names. ExtensionObjects that carry a known
// structure (identity tokens, notifications) are packed and unpacked here too.
#pragma once

#include <variant>
#include <vector>

#include "drivers/opcua/attribute_services.hpp"
#include "drivers/opcua/session_services.hpp"
#include "drivers/opcua/structure_codec.hpp"
#include "drivers/opcua/subscription_services.hpp"
#include "drivers/opcua/view_services.hpp"

namespace ib::drivers::opcua {

// Every response a client decodes. ServiceFault answers any request that failed
// as a whole; its header's ServiceResult says why.
using Response = std::variant<ServiceFault, OpenSecureChannelResponse, GetEndpointsResponse, CreateSessionResponse,
                              ActivateSessionResponse, CloseSessionResponse, ReadResponse, WriteResponse,
                              BrowseResponse, BrowseNextResponse, TranslateBrowsePathsToNodeIdsResponse,
                              CreateSubscriptionResponse, CreateMonitoredItemsResponse, DeleteSubscriptionsResponse,
                              PublishResponse, RepublishResponse, TransferSubscriptionsResponse>;

// Appends the encoding NodeId and the message.
template <Structure T>
void encode_message_body(std::vector<std::byte>& out, const T& message) {
    BinaryWriter w(out);
    encode(w, NodeId{0, T::kEncodingId});
    encode_value(w, message);
}

// The encoding id at the start of a body: ns=0 and numeric, else an error.
Result<uint32_t> decode_encoding_id(BinaryReader& r);

// A message of a known type; a body of any other type is an error (Unexpected).
// `base` is the body's offset in the chunk, for error offsets.
template <Structure T>
Result<T> decode_message_body(Bytes body, std::size_t base = 0) {
    BinaryReader r{body, base};
    const std::size_t at = r.offset();
    auto id = decode_encoding_id(r);
    if (!id) return std::unexpected(id.error());
    if (*id != T::kEncodingId) return fail(DecodeErrc::Unexpected, at, "message is not of the expected type");
    return decode_structure<T>(r.rest(), r.offset());
}

Result<Response> decode_response(Bytes body, std::size_t base = 0);

const ResponseHeader& response_header(const Response& response);

// An ExtensionObject holding `value` in its binary encoding (§5.2.2.15).
template <Structure T>
ExtensionObject make_extension_object(const T& value) {
    ExtensionObject out;
    out.type_id = NodeId{0, T::kEncodingId};
    out.encoding = ExtensionObject::Encoding::Binary;
    BinaryWriter w(out.body);
    encode_value(w, value);
    return out;
}

// The structure inside an ExtensionObject whose TypeId is T's binary encoding.
template <Structure T>
Result<T> decode_extension_object_body(const ExtensionObject& object) {
    if (object.encoding != ExtensionObject::Encoding::Binary || object.type_id != NodeId{0, T::kEncodingId}) {
        return fail(DecodeErrc::Unexpected, 0, "ExtensionObject does not hold the expected structure");
    }
    return decode_structure<T>(Bytes(object.body));
}

}  // namespace ib::drivers::opcua
