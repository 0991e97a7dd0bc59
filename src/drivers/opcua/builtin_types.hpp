// The OPC UA built-in types (OPC 10000-6 §5.1.2, Table 1) as plain values: what the
// binary codec (opcua_binary.hpp) decodes into and encodes from. Decoded values own
// their bytes, so they outlive the receive buffer. Null and empty String/ByteString
// are one value here (empty), encoded as null (length -1, §5.2.2.4).
#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace ib::drivers::opcua {

// Built-in type ids (§5.1.2 Table 1): the values of the Variant encoding mask's
// bits 0-5 (§5.2.2.16) and the numeric NodeIds of the DataTypes.
enum class BuiltinType : uint8_t {
    Null = 0,
    Boolean = 1,
    SByte = 2,
    Byte = 3,
    Int16 = 4,
    UInt16 = 5,
    Int32 = 6,
    UInt32 = 7,
    Int64 = 8,
    UInt64 = 9,
    Float = 10,
    Double = 11,
    String = 12,
    DateTime = 13,
    Guid = 14,
    ByteString = 15,
    XmlElement = 16,
    NodeId = 17,
    ExpandedNodeId = 18,
    StatusCode = 19,
    QualifiedName = 20,
    LocalizedText = 21,
    ExtensionObject = 22,
    DataValue = 23,
    Variant = 24,
    DiagnosticInfo = 25,
};
inline constexpr uint8_t kMaxBuiltinType = 25;

using ByteString = std::vector<std::byte>;

// §5.2.2.6: Data1 UInt32, Data2 UInt16, Data3 UInt16, Data4 8 bytes; the first
// three little-endian like every integer, Data4 as it stands.
struct Guid {
    uint32_t data1 = 0;
    uint16_t data2 = 0;
    uint16_t data3 = 0;
    std::array<uint8_t, 8> data4{};
    auto operator<=>(const Guid&) const = default;
};

// §5.2.2.5: Int64, 100 ns intervals since 1601-01-01 00:00 UTC.
struct DateTime {
    int64_t ticks = 0;
    auto operator<=>(const DateTime&) const = default;
};

// Ticks between 1601-01-01 and 1970-01-01.
inline constexpr int64_t kUnixEpochTicks = 116444736000000000LL;

// §5.2.2.5: a DateTime at or before the Unix epoch's representable start, or 0,
// is "MinValue"; Int64 max is "MaxValue". Converted to Unix milliseconds with both
// ends clamped rather than overflowing.
int64_t unix_ms(DateTime t);
DateTime from_unix_ms(int64_t ms);

// §5.2.2.11: UInt32; the top two bits give the severity (status_code.hpp).
struct StatusCode {
    uint32_t value = 0;
    auto operator<=>(const StatusCode&) const = default;
};

// §5.2.2.8: an XmlElement is a UTF-8 String on the wire; kept as bytes.
struct XmlElement {
    std::vector<std::byte> bytes;
    bool operator==(const XmlElement&) const = default;
};

// §5.2.2.9. The identifier's alternative is its IdType: Numeric, String, Guid,
// Opaque (ByteString). The binary form (two-byte, four-byte, ...) is chosen when
// encoding; the value does not remember it.
struct NodeId {
    uint16_t ns = 0;
    std::variant<uint32_t, std::string, Guid, ByteString> id{uint32_t{0}};

    bool is_null() const { return ns == 0 && id.index() == 0 && std::get<0>(id) == 0; }
    bool operator==(const NodeId&) const = default;
};

inline NodeId numeric_node(uint16_t ns, uint32_t id) { return NodeId{ns, id}; }

// §5.2.2.10: a NodeId with an optional namespace URI (which replaces the index
// when set) and server index.
struct ExpandedNodeId {
    NodeId node;
    std::string namespace_uri;
    uint32_t server_index = 0;
    bool operator==(const ExpandedNodeId&) const = default;
};

// §5.2.2.13
struct QualifiedName {
    uint16_t ns = 0;
    std::string name;
    bool operator==(const QualifiedName&) const = default;
};

// §5.2.2.14: either field may be absent (empty here).
struct LocalizedText {
    std::string locale;
    std::string text;
    bool operator==(const LocalizedText&) const = default;
};

// §5.2.2.15: TypeId is the DataTypeEncoding's NodeId; the body stays undecoded.
struct ExtensionObject {
    enum class Encoding : uint8_t { None = 0, Binary = 1, Xml = 2 };
    NodeId type_id;
    Encoding encoding = Encoding::None;
    std::vector<std::byte> body;
    bool operator==(const ExtensionObject&) const = default;
};

// §5.2.2.12: decoded and skipped; a collector has nothing to do with the parts.
struct DiagnosticInfo {
    bool operator==(const DiagnosticInfo&) const = default;
};

struct DataValue;
struct Variant;

// §5.2.2.16. `values` holds the elements in a vector of the type's C++ form; its
// alternative index *is* the built-in type id, so a Variant cannot disagree with
// itself. A scalar is one element with `is_array` false. Null is monostate.
// Array dimensions (multi-dimensional arrays) are accepted on decode and dropped:
// the elements stay in their flat order.
struct Variant {
    using Storage = std::variant<std::monostate,                  // 0 Null
                                 std::vector<bool>,               // 1 Boolean
                                 std::vector<int8_t>,             // 2 SByte
                                 std::vector<uint8_t>,            // 3 Byte
                                 std::vector<int16_t>,            // 4 Int16
                                 std::vector<uint16_t>,           // 5 UInt16
                                 std::vector<int32_t>,            // 6 Int32
                                 std::vector<uint32_t>,           // 7 UInt32
                                 std::vector<int64_t>,            // 8 Int64
                                 std::vector<uint64_t>,           // 9 UInt64
                                 std::vector<float>,              // 10 Float
                                 std::vector<double>,             // 11 Double
                                 std::vector<std::string>,        // 12 String
                                 std::vector<DateTime>,           // 13 DateTime
                                 std::vector<Guid>,               // 14 Guid
                                 std::vector<ByteString>,         // 15 ByteString
                                 std::vector<XmlElement>,         // 16 XmlElement
                                 std::vector<NodeId>,             // 17 NodeId
                                 std::vector<ExpandedNodeId>,     // 18 ExpandedNodeId
                                 std::vector<StatusCode>,         // 19 StatusCode
                                 std::vector<QualifiedName>,      // 20 QualifiedName
                                 std::vector<LocalizedText>,      // 21 LocalizedText
                                 std::vector<ExtensionObject>,    // 22 ExtensionObject
                                 std::vector<DataValue>,          // 23 DataValue
                                 std::vector<Variant>,            // 24 Variant
                                 std::vector<DiagnosticInfo>>;    // 25 DiagnosticInfo

    Storage values;
    bool is_array = false;

    // Declared here, defined below DataValue: Storage holds a vector<DataValue>,
    // whose destructor needs DataValue complete (clang instantiates it eagerly).
    Variant();
    Variant(const Variant&);
    Variant(Variant&&) noexcept;
    Variant& operator=(const Variant&);
    Variant& operator=(Variant&&) noexcept;
    ~Variant();

    BuiltinType type() const { return static_cast<BuiltinType>(values.index()); }
    bool is_null() const { return values.index() == 0; }
    std::size_t size() const;  // elements; 0 for Null

    // A scalar of type index I: Variant::scalar<BuiltinType::Double>(21.5).
    template <BuiltinType T, typename V>
    static Variant scalar(V&& v) {
        Variant out;
        auto& vec = out.values.emplace<static_cast<std::size_t>(T)>();
        vec.push_back(std::forward<V>(v));
        return out;
    }
    // An array of type index I.
    template <BuiltinType T, typename Vec>
    static Variant array(Vec&& elements) {
        Variant out;
        out.values.emplace<static_cast<std::size_t>(T)>(std::forward<Vec>(elements));
        out.is_array = true;
        return out;
    }

    bool operator==(const Variant&) const;
};

// §5.2.2.17. Absent fields take their defaults (Null value, Good, MinValue, 0),
// exactly as the encoding mask's bits are defined.
struct DataValue {
    Variant value;
    StatusCode status;
    DateTime source_timestamp;
    uint16_t source_picoseconds = 0;
    DateTime server_timestamp;
    uint16_t server_picoseconds = 0;
    bool operator==(const DataValue&) const = default;
};

inline Variant::Variant() = default;
inline Variant::Variant(const Variant&) = default;
inline Variant::Variant(Variant&&) noexcept = default;
inline Variant& Variant::operator=(const Variant&) = default;
inline Variant& Variant::operator=(Variant&&) noexcept = default;
inline Variant::~Variant() = default;

inline std::size_t Variant::size() const {
    return std::visit(
        [](const auto& v) -> std::size_t {
            if constexpr (std::is_same_v<std::decay_t<decltype(v)>, std::monostate>) return 0;
            else return v.size();
        },
        values);
}

inline bool Variant::operator==(const Variant& o) const { return is_array == o.is_array && values == o.values; }

}  // namespace ib::drivers::opcua
