// OPC UA Binary encoding of the built-in types (OPC 10000-6 §5.2.2) and of arrays
// (§5.2.5). Decoders read untrusted bytes: each length is checked against what
// remains before anything is allocated, nesting is bounded, and errors are values
// naming the offset. Encoders write our own values and cannot fail.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "drivers/opcua/binary_reader.hpp"
#include "drivers/opcua/binary_writer.hpp"
#include "drivers/opcua/builtin_types.hpp"

namespace ib::drivers::opcua {

// ---- decoding -------------------------------------------------------------
Result<bool> decode_boolean(BinaryReader& r);
Result<std::string> decode_string(BinaryReader& r);
Result<ByteString> decode_byte_string(BinaryReader& r);
Result<DateTime> decode_date_time(BinaryReader& r);
Result<Guid> decode_guid(BinaryReader& r);
Result<XmlElement> decode_xml_element(BinaryReader& r);
Result<NodeId> decode_node_id(BinaryReader& r);
Result<ExpandedNodeId> decode_expanded_node_id(BinaryReader& r);
Result<StatusCode> decode_status_code(BinaryReader& r);
Result<QualifiedName> decode_qualified_name(BinaryReader& r);
Result<LocalizedText> decode_localized_text(BinaryReader& r);
Result<ExtensionObject> decode_extension_object(BinaryReader& r);
Result<DataValue> decode_data_value(BinaryReader& r);
Result<Variant> decode_variant(BinaryReader& r);
Result<DiagnosticInfo> decode_diagnostic_info(BinaryReader& r);  // read and dropped

// The fewest bytes one element of each built-in type takes on the wire, used to
// refuse array lengths that the rest of the message cannot hold (§5.2.5).
std::size_t min_encoded_size(BuiltinType type);

// An array (§5.2.5): Int32 length (-1 null, read as empty), then the elements.
// `min_size` bounds the length by the remaining bytes before reserving anything.
template <typename T, typename Decode>
Result<std::vector<T>> decode_array(BinaryReader& r, Decode&& decode_one, std::size_t min_size) {
    auto n = r.length(min_size, "array length is negative or longer than the bytes left");
    if (!n) return std::unexpected(n.error());
    std::vector<T> out;
    out.reserve(*n);
    for (std::size_t i = 0; i < *n; ++i) {
        auto v = decode_one(r);
        if (!v) return std::unexpected(v.error());
        out.push_back(std::move(*v));
    }
    return out;
}

// ---- encoding -------------------------------------------------------------
void encode_boolean(BinaryWriter& w, bool v);
void encode_string(BinaryWriter& w, std::string_view v);
void encode_byte_string(BinaryWriter& w, Bytes v);
void encode(BinaryWriter& w, DateTime v);
void encode(BinaryWriter& w, const Guid& v);
void encode(BinaryWriter& w, const XmlElement& v);
void encode(BinaryWriter& w, const NodeId& v);
void encode(BinaryWriter& w, const ExpandedNodeId& v);
void encode(BinaryWriter& w, StatusCode v);
void encode(BinaryWriter& w, const QualifiedName& v);
void encode(BinaryWriter& w, const LocalizedText& v);
void encode(BinaryWriter& w, const ExtensionObject& v);
void encode(BinaryWriter& w, const DataValue& v);
void encode(BinaryWriter& w, const Variant& v);
void encode(BinaryWriter& w, const DiagnosticInfo& v);  // always the empty mask

inline void encode_byte_string(BinaryWriter& w, const ByteString& v) { encode_byte_string(w, Bytes(v)); }

template <typename T, typename Encode>
void encode_array(BinaryWriter& w, const std::vector<T>& v, Encode&& encode_one) {
    w.length(v.size());
    for (const T& e : v) encode_one(w, e);
}

}  // namespace ib::drivers::opcua
