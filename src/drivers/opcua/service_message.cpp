// OPC 10000-6 §5.2.9 / §6.7.2: a service message is its encoding NodeId then the body.
#include "drivers/opcua/service_message.hpp"

namespace ib::drivers::opcua {

Result<uint32_t> decode_encoding_id(BinaryReader& r) {
    const std::size_t at = r.offset();
    auto id = decode_node_id(r);
    if (!id) return std::unexpected(id.error());
    if (id->ns != 0 || id->id.index() != 0) {
        return fail(DecodeErrc::Unexpected, at, "encoding id is not a numeric NodeId of namespace 0");
    }
    return std::get<0>(id->id);
}

namespace {

template <std::size_t I = 0>
Result<Response> decode_as(uint32_t id, BinaryReader& r, std::size_t at) {
    if constexpr (I == std::variant_size_v<Response>) {
        return fail(DecodeErrc::Unexpected, at, "encoding id of no response a client expects");
    } else {
        using T = std::variant_alternative_t<I, Response>;
        if (id != T::kEncodingId) return decode_as<I + 1>(id, r, at);
        auto v = decode_structure<T>(r.rest(), r.offset());
        if (!v) return std::unexpected(v.error());
        return Response{std::in_place_index<I>, std::move(*v)};
    }
}

}  // namespace

Result<Response> decode_response(Bytes body, std::size_t base) {
    BinaryReader r{body, base};
    const std::size_t at = r.offset();
    auto id = decode_encoding_id(r);
    if (!id) return std::unexpected(id.error());
    return decode_as(*id, r, at);
}

const ResponseHeader& response_header(const Response& response) {
    return std::visit([](const auto& m) -> const ResponseHeader& { return m.response_header; }, response);
}

}  // namespace ib::drivers::opcua
