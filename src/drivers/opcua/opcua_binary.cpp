// OPC 10000-6 §5.2.2 (built-in types) and §5.2.5 (arrays), little-endian.
#include "drivers/opcua/opcua_binary.hpp"

#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>

namespace ib::drivers::opcua {

namespace {

// §5.2.2.9 Table 6: the NodeId DataEncoding values.
enum NodeIdEncoding : uint8_t {
    kTwoByte = 0x00,
    kFourByte = 0x01,
    kNumeric = 0x02,
    kString = 0x03,
    kGuid = 0x04,
    kOpaque = 0x05,
};
// §5.2.2.10: flags an ExpandedNodeId sets in the same byte.
constexpr uint8_t kNamespaceUriFlag = 0x80;
constexpr uint8_t kServerIndexFlag = 0x40;

// §5.2.2.16: Variant encoding mask.
constexpr uint8_t kVariantTypeMask = 0x3F;
constexpr uint8_t kVariantDimensions = 0x40;
constexpr uint8_t kVariantArray = 0x80;

// §5.2.2.17 Table 16: DataValue encoding mask.
constexpr uint8_t kDvValue = 0x01;
constexpr uint8_t kDvStatus = 0x02;
constexpr uint8_t kDvSourceTimestamp = 0x04;
constexpr uint8_t kDvServerTimestamp = 0x08;
constexpr uint8_t kDvSourcePicoseconds = 0x10;
constexpr uint8_t kDvServerPicoseconds = 0x20;

// §5.2.2.12 Table 14: DiagnosticInfo encoding mask.
constexpr uint8_t kDiSymbolicId = 0x01;
constexpr uint8_t kDiNamespaceUri = 0x02;
constexpr uint8_t kDiLocalizedText = 0x04;
constexpr uint8_t kDiLocale = 0x08;
constexpr uint8_t kDiAdditionalInfo = 0x10;
constexpr uint8_t kDiInnerStatusCode = 0x20;
constexpr uint8_t kDiInnerDiagnosticInfo = 0x40;

// §5.2.2.14: LocalizedText encoding mask.
constexpr uint8_t kLtLocale = 0x01;
constexpr uint8_t kLtText = 0x02;


Result<NodeId> decode_node_body(BinaryReader& r, uint8_t encoding, std::size_t at) {
    NodeId out;
    switch (encoding) {
        case kTwoByte: {
            IB_OPCUA_TRY(id, r.u8());
            out.id = uint32_t{*id};
            return out;
        }
        case kFourByte: {
            IB_OPCUA_TRY(ns, r.u8());
            IB_OPCUA_TRY(id, r.u16());
            out.ns = *ns;
            out.id = uint32_t{*id};
            return out;
        }
        case kNumeric: {
            IB_OPCUA_TRY(ns, r.u16());
            IB_OPCUA_TRY(id, r.u32());
            out.ns = *ns;
            out.id = *id;
            return out;
        }
        case kString: {
            IB_OPCUA_TRY(ns, r.u16());
            IB_OPCUA_TRY(s, decode_string(r));
            out.ns = *ns;
            out.id = std::move(*s);
            return out;
        }
        case kGuid: {
            IB_OPCUA_TRY(ns, r.u16());
            IB_OPCUA_TRY(g, decode_guid(r));
            out.ns = *ns;
            out.id = *g;
            return out;
        }
        case kOpaque: {
            IB_OPCUA_TRY(ns, r.u16());
            IB_OPCUA_TRY(b, decode_byte_string(r));
            out.ns = *ns;
            out.id = std::move(*b);
            return out;
        }
        default:
            return fail(DecodeErrc::BadValue, at, "unknown NodeId encoding byte");
    }
}

// One element of a Variant, by built-in type index.
template <std::size_t I>
auto decode_element(BinaryReader& r) {
    if constexpr (I == 1) return decode_boolean(r);
    else if constexpr (I == 12) return decode_string(r);
    else if constexpr (I == 13) return decode_date_time(r);
    else if constexpr (I == 14) return decode_guid(r);
    else if constexpr (I == 15) return decode_byte_string(r);
    else if constexpr (I == 16) return decode_xml_element(r);
    else if constexpr (I == 17) return decode_node_id(r);
    else if constexpr (I == 18) return decode_expanded_node_id(r);
    else if constexpr (I == 19) return decode_status_code(r);
    else if constexpr (I == 20) return decode_qualified_name(r);
    else if constexpr (I == 21) return decode_localized_text(r);
    else if constexpr (I == 22) return decode_extension_object(r);
    else if constexpr (I == 23) return decode_data_value(r);
    else if constexpr (I == 24) return decode_variant(r);
    else if constexpr (I == 25) return decode_diagnostic_info(r);
    else static_assert(I == 0, "fixed-size types are copied in decode_elements");
}

template <std::size_t I>
Result<void> decode_elements(BinaryReader& r, Variant::Storage& storage, std::size_t n) {
    auto& vec = storage.emplace<I>();
    using T = typename std::decay_t<decltype(vec)>::value_type;
    if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) {
        // Fixed-size numbers: one bounds check and one copy for the whole array.
        IB_OPCUA_TRY(raw, r.take(n * sizeof(T)));
        vec.resize(n);
        if (n != 0) std::memcpy(vec.data(), raw->data(), n * sizeof(T));
    } else {
        vec.reserve(n);
        for (std::size_t i = 0; i < n; ++i) {
            IB_OPCUA_TRY(e, decode_element<I>(r));
            vec.push_back(std::move(*e));
        }
    }
    return {};
}

template <std::size_t... I>
Result<void> decode_elements_of(uint8_t type, BinaryReader& r, Variant::Storage& storage, std::size_t n,
                                std::index_sequence<I...>) {
    Result<void> out;
    // Exactly one I matches `type` (1..25, checked by the caller).
    (void)((type == I + 1 ? (out = decode_elements<I + 1>(r, storage, n), true) : false) || ...);
    return out;
}

// ---- encoding helpers ----
void put(BinaryWriter& w, bool v) { encode_boolean(w, v); }
void put(BinaryWriter& w, int8_t v) { w.i8(v); }
void put(BinaryWriter& w, uint8_t v) { w.u8(v); }
void put(BinaryWriter& w, int16_t v) { w.i16(v); }
void put(BinaryWriter& w, uint16_t v) { w.u16(v); }
void put(BinaryWriter& w, int32_t v) { w.i32(v); }
void put(BinaryWriter& w, uint32_t v) { w.u32(v); }
void put(BinaryWriter& w, int64_t v) { w.i64(v); }
void put(BinaryWriter& w, uint64_t v) { w.u64(v); }
void put(BinaryWriter& w, float v) { w.f32(v); }
void put(BinaryWriter& w, double v) { w.f64(v); }
void put(BinaryWriter& w, const std::string& v) { encode_string(w, v); }
void put(BinaryWriter& w, const ByteString& v) { encode_byte_string(w, v); }
template <typename T>
void put(BinaryWriter& w, const T& v) { encode(w, v); }

}  // namespace

// ---- DateTime helpers (§5.2.2.5) ----
int64_t unix_ms(DateTime t) {
    if (t.ticks <= 0) return -kUnixEpochTicks / 10000;
    if (t.ticks == std::numeric_limits<int64_t>::max()) return std::numeric_limits<int64_t>::max();
    return (t.ticks - kUnixEpochTicks) / 10000;
}

DateTime from_unix_ms(int64_t ms) {
    constexpr int64_t max_ms = (std::numeric_limits<int64_t>::max() - kUnixEpochTicks) / 10000;
    if (ms >= max_ms) return DateTime{std::numeric_limits<int64_t>::max()};
    if (ms <= -kUnixEpochTicks / 10000) return DateTime{0};
    return DateTime{ms * 10000 + kUnixEpochTicks};
}

// ---- decoding ----

// §5.2.2.1: "any non-zero value is true".
Result<bool> decode_boolean(BinaryReader& r) {
    IB_OPCUA_TRY(b, r.u8());
    return *b != 0;
}

// §5.2.2.4: Int32 length in bytes, -1 for null, then UTF-8 without a terminator.
Result<std::string> decode_string(BinaryReader& r) {
    IB_OPCUA_TRY(n, r.length(1, "String length is negative or longer than the bytes left"));
    IB_OPCUA_TRY(raw, r.take(*n));
    return std::string(as_string_view(*raw));
}

// §5.2.2.7: as a String, without any claim about its content.
Result<ByteString> decode_byte_string(BinaryReader& r) {
    IB_OPCUA_TRY(n, r.length(1, "ByteString length is negative or longer than the bytes left"));
    IB_OPCUA_TRY(raw, r.take(*n));
    return ByteString(raw->begin(), raw->end());
}

Result<DateTime> decode_date_time(BinaryReader& r) {
    IB_OPCUA_TRY(t, r.i64());
    return DateTime{*t};
}

Result<Guid> decode_guid(BinaryReader& r) {
    Guid g;
    IB_OPCUA_TRY(d1, r.u32());
    IB_OPCUA_TRY(d2, r.u16());
    IB_OPCUA_TRY(d3, r.u16());
    IB_OPCUA_TRY(d4, r.take(8));
    g.data1 = *d1;
    g.data2 = *d2;
    g.data3 = *d3;
    for (std::size_t i = 0; i < 8; ++i) g.data4[i] = static_cast<uint8_t>((*d4)[i]);
    return g;
}

Result<XmlElement> decode_xml_element(BinaryReader& r) {
    IB_OPCUA_TRY(b, decode_byte_string(r));
    return XmlElement{std::move(*b)};
}

Result<NodeId> decode_node_id(BinaryReader& r) {
    const std::size_t at = r.offset();
    IB_OPCUA_TRY(enc, r.u8());
    if ((*enc & (kNamespaceUriFlag | kServerIndexFlag)) != 0) {
        return fail(DecodeErrc::BadValue, at, "NodeId with the flags of an ExpandedNodeId");
    }
    return decode_node_body(r, *enc, at);
}

Result<ExpandedNodeId> decode_expanded_node_id(BinaryReader& r) {
    const std::size_t at = r.offset();
    IB_OPCUA_TRY(enc, r.u8());
    IB_OPCUA_TRY(node, decode_node_body(r, *enc & ~(kNamespaceUriFlag | kServerIndexFlag), at));
    ExpandedNodeId out;
    out.node = std::move(*node);
    if (*enc & kNamespaceUriFlag) {
        IB_OPCUA_TRY(uri, decode_string(r));
        out.namespace_uri = std::move(*uri);
    }
    if (*enc & kServerIndexFlag) {
        IB_OPCUA_TRY(index, r.u32());
        out.server_index = *index;
    }
    return out;
}

Result<StatusCode> decode_status_code(BinaryReader& r) {
    IB_OPCUA_TRY(v, r.u32());
    return StatusCode{*v};
}

Result<QualifiedName> decode_qualified_name(BinaryReader& r) {
    IB_OPCUA_TRY(ns, r.u16());
    IB_OPCUA_TRY(name, decode_string(r));
    return QualifiedName{*ns, std::move(*name)};
}

Result<LocalizedText> decode_localized_text(BinaryReader& r) {
    IB_OPCUA_TRY(mask, r.u8());
    LocalizedText out;
    if (*mask & kLtLocale) {
        IB_OPCUA_TRY(s, decode_string(r));
        out.locale = std::move(*s);
    }
    if (*mask & kLtText) {
        IB_OPCUA_TRY(s, decode_string(r));
        out.text = std::move(*s);
    }
    return out;
}

// §5.2.2.15: TypeId, an encoding byte (0 no body, 1 ByteString, 2 XmlElement),
// then the body as a ByteString.
Result<ExtensionObject> decode_extension_object(BinaryReader& r) {
    IB_OPCUA_TRY(type_id, decode_node_id(r));
    const std::size_t at = r.offset();
    IB_OPCUA_TRY(enc, r.u8());
    ExtensionObject out;
    out.type_id = std::move(*type_id);
    if (*enc > 2) return fail(DecodeErrc::BadValue, at, "ExtensionObject encoding other than 0, 1 or 2");
    out.encoding = static_cast<ExtensionObject::Encoding>(*enc);
    if (out.encoding != ExtensionObject::Encoding::None) {
        IB_OPCUA_TRY(body, decode_byte_string(r));
        out.body = std::move(*body);
    }
    return out;
}

Result<DataValue> decode_data_value(BinaryReader& r) {
    IB_OPCUA_TRY(in, r.enter());
    DataValue out;
    auto body = [&]() -> Result<void> {
        IB_OPCUA_TRY(mask, r.u8());
        if (*mask & kDvValue) {
            IB_OPCUA_TRY(v, decode_variant(r));
            out.value = std::move(*v);
        }
        if (*mask & kDvStatus) {
            IB_OPCUA_TRY(s, decode_status_code(r));
            out.status = *s;
        }
        if (*mask & kDvSourceTimestamp) {
            IB_OPCUA_TRY(t, decode_date_time(r));
            out.source_timestamp = *t;
        }
        if (*mask & kDvSourcePicoseconds) {
            IB_OPCUA_TRY(p, r.u16());
            out.source_picoseconds = *p;
        }
        if (*mask & kDvServerTimestamp) {
            IB_OPCUA_TRY(t, decode_date_time(r));
            out.server_timestamp = *t;
        }
        if (*mask & kDvServerPicoseconds) {
            IB_OPCUA_TRY(p, r.u16());
            out.server_picoseconds = *p;
        }
        return {};
    }();
    r.leave();
    if (!body) return std::unexpected(body.error());
    return out;
}

std::size_t min_encoded_size(BuiltinType type) {
    // Indexed by built-in type id (§5.1.2): fixed sizes, 4 for a length-prefixed
    // field, 2 for the smallest NodeId, 1 for the mask-led types.
    static constexpr std::size_t kMin[kMaxBuiltinType + 1] = {
        0, 1, 1, 1, 2, 2, 4, 4, 8, 8, 4, 8,  // Null .. Double
        4,                                   // String
        8, 16, 4, 4,                         // DateTime, Guid, ByteString, XmlElement
        2, 2, 4, 6, 1,                       // NodeId, ExpandedNodeId, StatusCode, QualifiedName, LocalizedText
        3, 1, 1, 1,                          // ExtensionObject, DataValue, Variant, DiagnosticInfo
    };
    return kMin[static_cast<uint8_t>(type)];
}

Result<Variant> decode_variant(BinaryReader& r) {
    IB_OPCUA_TRY(in, r.enter());
    Variant out;
    auto body = [&]() -> Result<void> {
        const std::size_t at = r.offset();
        IB_OPCUA_TRY(mask, r.u8());
        const uint8_t type = *mask & kVariantTypeMask;
        if (type > kMaxBuiltinType) return fail(DecodeErrc::BadValue, at, "Variant type id above 25");
        const bool array = (*mask & kVariantArray) != 0;
        const bool dimensions = (*mask & kVariantDimensions) != 0;
        if (dimensions && !array) return fail(DecodeErrc::BadValue, at, "Variant dimensions without an array");
        if (type == 0) {
            if (array) return fail(DecodeErrc::BadValue, at, "Variant array of Null");
            return {};  // Null: the mask alone
        }
        std::size_t n = 1;
        if (array) {
            IB_OPCUA_TRY(len, r.length(min_encoded_size(static_cast<BuiltinType>(type)),
                                 "Variant array length is negative or longer than the bytes left"));
            n = *len;
        }
        IB_OPCUA_TRY(filled, decode_elements_of(type, r, out.values, n, std::make_index_sequence<kMaxBuiltinType>{}));
        out.is_array = array;
        if (dimensions) {
            // §5.2.2.16: ArrayDimensions, an Int32 array; multi-dimensional arrays
            // are passed on flat, so the dimensions are checked for size and dropped.
            IB_OPCUA_TRY(dims, r.length(4, "ArrayDimensions length is negative or longer than the bytes left"));
            IB_OPCUA_TRY(skipped, r.take(*dims * 4));
        }
        return {};
    }();
    r.leave();
    if (!body) return std::unexpected(body.error());
    return out;
}

// §5.2.2.12: an inner DiagnosticInfo is a chain, walked in a loop so that its
// length costs no stack.
Result<DiagnosticInfo> decode_diagnostic_info(BinaryReader& r) {
    for (;;) {
        IB_OPCUA_TRY(mask, r.u8());
        const int ints = ((*mask & kDiSymbolicId) != 0) + ((*mask & kDiNamespaceUri) != 0) +
                         ((*mask & kDiLocalizedText) != 0) + ((*mask & kDiLocale) != 0);
        IB_OPCUA_TRY(fixed, r.take(static_cast<std::size_t>(ints) * 4));
        if (*mask & kDiAdditionalInfo) {
            IB_OPCUA_TRY(n, r.length(1, "DiagnosticInfo AdditionalInfo length is negative or longer than the bytes left"));
            IB_OPCUA_TRY(text, r.take(*n));
        }
        if (*mask & kDiInnerStatusCode) {
            IB_OPCUA_TRY(code, r.u32());
        }
        if ((*mask & kDiInnerDiagnosticInfo) == 0) return DiagnosticInfo{};
    }
}

// ---- encoding ----

void encode_boolean(BinaryWriter& w, bool v) { w.u8(v ? 1 : 0); }

void encode_string(BinaryWriter& w, std::string_view v) {
    if (v.empty()) {
        w.i32(-1);
        return;
    }
    w.length(v.size());
    w.raw(v);
}

void encode_byte_string(BinaryWriter& w, Bytes v) {
    if (v.empty()) {
        w.i32(-1);
        return;
    }
    w.length(v.size());
    w.raw(v);
}

void encode(BinaryWriter& w, DateTime v) { w.i64(v.ticks); }

void encode(BinaryWriter& w, const Guid& v) {
    w.u32(v.data1);
    w.u16(v.data2);
    w.u16(v.data3);
    for (uint8_t b : v.data4) w.u8(b);
}

void encode(BinaryWriter& w, const XmlElement& v) { encode_byte_string(w, v.bytes); }

namespace {
// The NodeId's encoding byte (§5.2.2.9: the smallest form that holds it) and body.
void encode_node(BinaryWriter& w, const NodeId& v, uint8_t flags) {
    switch (v.id.index()) {
        case 0: {
            const uint32_t id = std::get<0>(v.id);
            if (v.ns == 0 && id <= 0xFF) {
                w.u8(kTwoByte | flags);
                w.u8(static_cast<uint8_t>(id));
            } else if (v.ns <= 0xFF && id <= 0xFFFF) {
                w.u8(kFourByte | flags);
                w.u8(static_cast<uint8_t>(v.ns));
                w.u16(static_cast<uint16_t>(id));
            } else {
                w.u8(kNumeric | flags);
                w.u16(v.ns);
                w.u32(id);
            }
            return;
        }
        case 1:
            w.u8(kString | flags);
            w.u16(v.ns);
            encode_string(w, std::get<1>(v.id));
            return;
        case 2:
            w.u8(kGuid | flags);
            w.u16(v.ns);
            encode(w, std::get<2>(v.id));
            return;
        default:
            w.u8(kOpaque | flags);
            w.u16(v.ns);
            encode_byte_string(w, std::get<3>(v.id));
            return;
    }
}
}  // namespace

void encode(BinaryWriter& w, const NodeId& v) { encode_node(w, v, 0); }

void encode(BinaryWriter& w, const ExpandedNodeId& v) {
    uint8_t flags = 0;
    if (!v.namespace_uri.empty()) flags |= kNamespaceUriFlag;
    if (v.server_index != 0) flags |= kServerIndexFlag;
    if (flags & kNamespaceUriFlag) {
        // §5.2.2.10: with a NamespaceUri "the encoder shall encode the
        // NamespaceIndex as 0".
        NodeId node = v.node;
        node.ns = 0;
        encode_node(w, node, flags);
        encode_string(w, v.namespace_uri);
    } else {
        encode_node(w, v.node, flags);
    }
    if (flags & kServerIndexFlag) w.u32(v.server_index);
}

void encode(BinaryWriter& w, StatusCode v) { w.u32(v.value); }

void encode(BinaryWriter& w, const QualifiedName& v) {
    w.u16(v.ns);
    encode_string(w, v.name);
}

void encode(BinaryWriter& w, const LocalizedText& v) {
    uint8_t mask = 0;
    if (!v.locale.empty()) mask |= kLtLocale;
    if (!v.text.empty()) mask |= kLtText;
    w.u8(mask);
    if (mask & kLtLocale) encode_string(w, v.locale);
    if (mask & kLtText) encode_string(w, v.text);
}

void encode(BinaryWriter& w, const ExtensionObject& v) {
    encode(w, v.type_id);
    w.u8(static_cast<uint8_t>(v.encoding));
    if (v.encoding != ExtensionObject::Encoding::None) {
        // An empty body is still a body here: length 0, not null.
        w.length(v.body.size());
        w.raw(Bytes(v.body));
    }
}

void encode(BinaryWriter& w, const DataValue& v) {
    uint8_t mask = 0;
    if (!v.value.is_null()) mask |= kDvValue;
    if (v.status.value != 0) mask |= kDvStatus;
    if (v.source_timestamp.ticks != 0) mask |= kDvSourceTimestamp;
    if (v.server_timestamp.ticks != 0) mask |= kDvServerTimestamp;
    if (v.source_picoseconds != 0) mask |= kDvSourcePicoseconds;
    if (v.server_picoseconds != 0) mask |= kDvServerPicoseconds;
    w.u8(mask);
    if (mask & kDvValue) encode(w, v.value);
    if (mask & kDvStatus) encode(w, v.status);
    if (mask & kDvSourceTimestamp) encode(w, v.source_timestamp);
    if (mask & kDvSourcePicoseconds) w.u16(v.source_picoseconds);
    if (mask & kDvServerTimestamp) encode(w, v.server_timestamp);
    if (mask & kDvServerPicoseconds) w.u16(v.server_picoseconds);
}

void encode(BinaryWriter& w, const Variant& v) {
    if (v.is_null()) {
        w.u8(0);
        return;
    }
    IB_ASSERT(v.is_array || v.size() == 1, "a scalar Variant holds exactly one value");
    w.u8(static_cast<uint8_t>(v.values.index()) | (v.is_array ? kVariantArray : 0));
    std::visit(
        [&](const auto& vec) {
            if constexpr (!std::is_same_v<std::decay_t<decltype(vec)>, std::monostate>) {
                if (v.is_array) w.length(vec.size());
                for (const auto& e : vec) put(w, e);
            }
        },
        v.values);
}

void encode(BinaryWriter& w, const DiagnosticInfo&) { w.u8(0); }

}  // namespace ib::drivers::opcua
