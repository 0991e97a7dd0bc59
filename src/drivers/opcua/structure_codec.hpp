// Structures in OPC UA Binary are their fields in order (OPC 10000-6 §5.2.6),
// enumerations are Int32 (§5.2.4) and arrays an Int32 length then the elements
// (§5.2.5). A service struct lists its fields once, in `visit`, and these
// templates encode and decode it from that list: the order on the wire is the
// order of the calls, so it is written down in exactly one place per type.
//
//   struct ReadValueId {
//       NodeId node_id; uint32_t attribute_id = 13; ...
//       template <typename S, typename F> static void visit(S& s, F&& f) {
//           f(s.node_id); f(s.attribute_id); ...
//       }
//   };
#pragma once

#include <concepts>
#include <string>
#include <type_traits>
#include <vector>

#include "drivers/opcua/opcua_binary.hpp"

namespace ib::drivers::opcua {

template <typename T>
concept Structure = requires(T& t) { T::visit(t, [](auto&) {}); };

template <typename T>
struct is_vector : std::false_type {};
template <typename T>
struct is_vector<std::vector<T>> : std::true_type {};

template <typename T>
std::size_t min_size();

namespace detail {
template <Structure T>
std::size_t structure_min_size() {
    T t{};
    std::size_t n = 0;
    T::visit(t, [&](auto& field) { n += min_size<std::decay_t<decltype(field)>>(); });
    return n;
}
}  // namespace detail

// The fewest bytes a value of T takes on the wire; bounds array lengths by the
// bytes left before anything is reserved.
template <typename T>
std::size_t min_size() {
    if constexpr (std::is_same_v<T, bool> || std::is_enum_v<T> || std::is_arithmetic_v<T>) {
        if constexpr (std::is_enum_v<T>) return 4;
        else return sizeof(T);
    } else if constexpr (std::is_same_v<T, std::string> || std::is_same_v<T, ByteString> || is_vector<T>::value) {
        return 4;
    } else if constexpr (std::is_same_v<T, DateTime>) return 8;
    else if constexpr (std::is_same_v<T, Guid>) return 16;
    else if constexpr (std::is_same_v<T, StatusCode>) return 4;
    else if constexpr (std::is_same_v<T, NodeId> || std::is_same_v<T, ExpandedNodeId>) return 2;
    else if constexpr (std::is_same_v<T, QualifiedName>) return 6;
    else if constexpr (std::is_same_v<T, ExtensionObject>) return 3;
    else if constexpr (std::is_same_v<T, LocalizedText> || std::is_same_v<T, DataValue> ||
                       std::is_same_v<T, Variant> || std::is_same_v<T, DiagnosticInfo>) {
        return 1;
    } else {
        static_assert(Structure<T>, "no OPC UA encoding for this type");
        static const std::size_t n = detail::structure_min_size<T>();
        return n;
    }
}

template <typename T>
void encode_value(BinaryWriter& w, const T& v) {
    if constexpr (std::is_same_v<T, bool>) encode_boolean(w, v);
    else if constexpr (std::is_enum_v<T>) w.i32(static_cast<int32_t>(v));
    else if constexpr (std::is_same_v<T, uint8_t>) w.u8(v);
    else if constexpr (std::is_same_v<T, uint16_t>) w.u16(v);
    else if constexpr (std::is_same_v<T, uint32_t>) w.u32(v);
    else if constexpr (std::is_same_v<T, int32_t>) w.i32(v);
    else if constexpr (std::is_same_v<T, int64_t>) w.i64(v);
    else if constexpr (std::is_same_v<T, uint64_t>) w.u64(v);
    else if constexpr (std::is_same_v<T, double>) w.f64(v);
    else if constexpr (std::is_same_v<T, float>) w.f32(v);
    else if constexpr (std::is_same_v<T, std::string>) encode_string(w, v);
    else if constexpr (std::is_same_v<T, ByteString>) encode_byte_string(w, v);
    else if constexpr (is_vector<T>::value) {
        w.length(v.size());
        for (const auto& e : v) encode_value(w, e);
    } else if constexpr (Structure<T>) {
        T::visit(v, [&](const auto& field) { encode_value(w, field); });
    } else {
        encode(w, v);
    }
}

template <typename T>
Result<void> decode_value(BinaryReader& r, T& out) {
    auto assign = [&](auto&& got) -> Result<void> {
        if (!got) return std::unexpected(got.error());
        out = static_cast<T>(std::move(*got));
        return {};
    };
    if constexpr (std::is_same_v<T, bool>) return assign(decode_boolean(r));
    else if constexpr (std::is_enum_v<T>) return assign(r.i32());
    else if constexpr (std::is_same_v<T, uint8_t>) return assign(r.u8());
    else if constexpr (std::is_same_v<T, uint16_t>) return assign(r.u16());
    else if constexpr (std::is_same_v<T, uint32_t>) return assign(r.u32());
    else if constexpr (std::is_same_v<T, int32_t>) return assign(r.i32());
    else if constexpr (std::is_same_v<T, int64_t>) return assign(r.i64());
    else if constexpr (std::is_same_v<T, uint64_t>) return assign(r.u64());
    else if constexpr (std::is_same_v<T, double>) return assign(r.f64());
    else if constexpr (std::is_same_v<T, float>) return assign(r.f32());
    else if constexpr (std::is_same_v<T, std::string>) return assign(decode_string(r));
    else if constexpr (std::is_same_v<T, ByteString>) return assign(decode_byte_string(r));
    else if constexpr (std::is_same_v<T, DateTime>) return assign(decode_date_time(r));
    else if constexpr (std::is_same_v<T, Guid>) return assign(decode_guid(r));
    else if constexpr (std::is_same_v<T, StatusCode>) return assign(decode_status_code(r));
    else if constexpr (std::is_same_v<T, NodeId>) return assign(decode_node_id(r));
    else if constexpr (std::is_same_v<T, ExpandedNodeId>) return assign(decode_expanded_node_id(r));
    else if constexpr (std::is_same_v<T, QualifiedName>) return assign(decode_qualified_name(r));
    else if constexpr (std::is_same_v<T, LocalizedText>) return assign(decode_localized_text(r));
    else if constexpr (std::is_same_v<T, ExtensionObject>) return assign(decode_extension_object(r));
    else if constexpr (std::is_same_v<T, DataValue>) return assign(decode_data_value(r));
    else if constexpr (std::is_same_v<T, Variant>) return assign(decode_variant(r));
    else if constexpr (std::is_same_v<T, DiagnosticInfo>) return assign(decode_diagnostic_info(r));
    else if constexpr (is_vector<T>::value) {
        using E = typename T::value_type;
        auto n = r.length(min_size<E>(), "array length is negative or longer than the bytes left");
        if (!n) return std::unexpected(n.error());
        out.clear();
        out.reserve(*n);
        for (std::size_t i = 0; i < *n; ++i) {
            E e{};
            auto got = decode_value(r, e);
            if (!got) return got;
            out.push_back(std::move(e));
        }
        return {};
    } else {
        static_assert(Structure<T>, "no OPC UA decoding for this type");
        Result<void> result;
        T::visit(out, [&](auto& field) {
            if (result) result = decode_value(r, field);
        });
        return result;
    }
}

// A structure on its own, all of `bytes` consumed.
template <Structure T>
Result<T> decode_structure(Bytes bytes, std::size_t base = 0) {
    BinaryReader r{bytes, base};
    T out{};
    auto got = decode_value(r, out);
    if (!got) return std::unexpected(got.error());
    if (!r.empty()) return fail(DecodeErrc::BadLength, r.offset(), "bytes left after the structure");
    return out;
}

}  // namespace ib::drivers::opcua
