// Service messages (OPC 10000-4 §5.4-§5.13) in OPC UA Binary: hand-written bytes
// for Read, ServiceFault and an identity token, following the field order of
// OPC 10000-6 Annex C and the encoding ids of Annex A; round trips of every
// message; truncations and lying lengths.
#include <gtest/gtest.h>

#include "drivers/opcua/service_message.hpp"
#include "drivers/opcua/status_code.hpp"
#include "test_bytes.hpp"

namespace ib::drivers::opcua {
namespace {

using test::Buf;
using test::bytes;
using test::cat;
using test::text;

// RequestHeader with everything null or zero: null NodeId (two-byte 0), DateTime
// 0, handle, diagnostics 0, null audit id, timeout 0, ExtensionObject with null
// TypeId and no body.
Buf null_request_header(uint8_t handle) {
    return cat({bytes({0x00, 0x00}), Buf(8, std::byte{0}), bytes({handle, 0, 0, 0}), bytes({0, 0, 0, 0}),
                bytes({0xFF, 0xFF, 0xFF, 0xFF}), bytes({0, 0, 0, 0}), bytes({0x00, 0x00, 0x00})});
}

// ResponseHeader: DateTime 0, handle, ServiceResult, empty DiagnosticInfo, null
// string table, empty ExtensionObject.
Buf response_header(uint8_t handle, uint32_t result) {
    return cat({Buf(8, std::byte{0}), bytes({handle, 0, 0, 0}),
                bytes({int(result & 0xFF), int((result >> 8) & 0xFF), int((result >> 16) & 0xFF), int(result >> 24)}),
                bytes({0x00}), bytes({0xFF, 0xFF, 0xFF, 0xFF}), bytes({0x00, 0x00, 0x00})});
}

TEST(OpcuaServiceMessage, EncodesAReadRequestFieldByField) {
    ReadRequest req;
    req.request_header.request_handle = 7;
    req.timestamps_to_return = TimestampsToReturn::Both;
    req.nodes_to_read.push_back(ReadValueId{NodeId{2, std::string("Temp")}, 13, "", {}});
    Buf out;
    encode_message_body(out, req);
    const Buf want = cat({bytes({0x01, 0x00, 0x77, 0x02}),  // i=631 ReadRequest_Encoding_DefaultBinary, four-byte form
                          null_request_header(7),
                          Buf(8, std::byte{0}),              // MaxAge 0.0
                          bytes({0x02, 0, 0, 0}),            // TimestampsToReturn Both
                          bytes({0x01, 0, 0, 0}),            // one ReadValueId
                          bytes({0x03, 0x02, 0x00, 0x04, 0, 0, 0}), text("Temp"),
                          bytes({0x0D, 0, 0, 0}),            // AttributeId Value
                          bytes({0xFF, 0xFF, 0xFF, 0xFF}),   // IndexRange null
                          bytes({0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF})});  // DataEncoding null
    EXPECT_EQ(out, want);
    EXPECT_EQ(decode_message_body<ReadRequest>(Bytes(out)).value(), req);
}

const Buf kReadResponse = cat({bytes({0x01, 0x00, 0x7A, 0x02}),  // i=634
                               response_header(7, 0),
                               bytes({0x02, 0, 0, 0}),              // two results
                               bytes({0x01, 0x0A}), bytes({0x00, 0x00, 0xAC, 0x41}),  // Float 21.5
                               bytes({0x02}), bytes({0x00, 0x00, 0x34, 0x80}),        // BadNodeIdUnknown
                               bytes({0xFF, 0xFF, 0xFF, 0xFF})});   // DiagnosticInfos null

TEST(OpcuaServiceMessage, DecodesAReadResponseWithAValueAndABadStatus) {
    auto r = decode_response(Bytes(kReadResponse));
    ASSERT_TRUE(r) << r.error().message << " at " << r.error().offset;
    const auto& read = std::get<ReadResponse>(*r);
    EXPECT_EQ(read.response_header.request_handle, 7u);
    ASSERT_EQ(read.results.size(), 2u);
    EXPECT_EQ(std::get<10>(read.results[0].value.values), std::vector<float>{21.5f});
    EXPECT_EQ(status_name(read.results[1].status), "BadNodeIdUnknown");
    EXPECT_TRUE(read.results[1].value.is_null());
}

TEST(OpcuaServiceMessage, FailsOnEveryTruncationOfAReadResponse) {
    for (std::size_t n = 0; n < kReadResponse.size(); ++n) {
        auto r = decode_response(Bytes(kReadResponse).first(n));
        ASSERT_FALSE(r) << n;
        EXPECT_LE(r.error().offset, n);
    }
}

TEST(OpcuaServiceMessage, RefusesAResultCountTheBytesCannotHold) {
    Buf lying = kReadResponse;
    // The results count (after the 4-byte id and the 24-byte header) becomes
    // 0x7F0000FF: two billion DataValues claimed in a few bytes.
    lying[28] = std::byte{0xFF};
    lying[31] = std::byte{0x7F};
    auto r = decode_response(Bytes(lying));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, static_cast<uint8_t>(DecodeErrc::BadLength));
    EXPECT_EQ(r.error().offset, 28u);
}

TEST(OpcuaServiceMessage, RefusesANegativeResultCountOtherThanMinusOne) {
    Buf lying = kReadResponse;
    lying[28] = std::byte{0xFE};
    lying[29] = lying[30] = lying[31] = std::byte{0xFF};  // -2
    EXPECT_EQ(decode_response(Bytes(lying)).error().code, static_cast<uint8_t>(DecodeErrc::BadLength));
}

// P4 §7.30: a ServiceFault is the ResponseHeader alone; i=397 = 0x018D.
TEST(OpcuaServiceMessage, DecodesAServiceFault) {
    Buf in = cat({bytes({0x01, 0x00, 0x8D, 0x01}), response_header(9, 0x80250000)});
    auto r = decode_response(Bytes(in));
    ASSERT_TRUE(r);
    ASSERT_TRUE(std::holds_alternative<ServiceFault>(*r));
    EXPECT_EQ(response_header(*r).service_result, status::BadSessionIdInvalid);
    EXPECT_EQ(response_header(*r).request_handle, 9u);
}

TEST(OpcuaServiceMessage, RefusesUnknownEncodingIdsOtherNamespacesAndTrailingBytes) {
    Buf unknown = cat({bytes({0x01, 0x00, 0x77, 0x02}), null_request_header(1)});  // a ReadRequest
    EXPECT_EQ(decode_response(Bytes(unknown)).error().code, static_cast<uint8_t>(DecodeErrc::Unexpected));
    Buf other_ns = cat({bytes({0x01, 0x01, 0x8D, 0x01}), response_header(9, 0)});
    EXPECT_FALSE(decode_response(Bytes(other_ns)));
    Buf trailing = cat({bytes({0x01, 0x00, 0x8D, 0x01}), response_header(9, 0), bytes({0x00})});
    EXPECT_EQ(decode_response(Bytes(trailing)).error().code, static_cast<uint8_t>(DecodeErrc::BadLength));
    EXPECT_FALSE(decode_message_body<ReadResponse>(Bytes(cat({bytes({0x01, 0x00, 0x8D, 0x01}), response_header(9, 0)}))));
}

// P4 §7.36.3: the anonymous token in an ExtensionObject: i=321 (0x0141), binary
// body holding the PolicyId.
TEST(OpcuaServiceMessage, PacksAnAnonymousIdentityTokenIntoAnExtensionObject) {
    ExtensionObject eo = make_extension_object(AnonymousIdentityToken{"anon"});
    Buf out;
    BinaryWriter w(out);
    encode(w, eo);
    EXPECT_EQ(out, cat({bytes({0x01, 0x00, 0x41, 0x01, 0x01, 0x08, 0, 0, 0, 0x04, 0, 0, 0}), text("anon")}));
    EXPECT_EQ(decode_extension_object_body<AnonymousIdentityToken>(eo).value().policy_id, "anon");
    EXPECT_FALSE(decode_extension_object_body<UserNameIdentityToken>(eo));
}

template <typename T>
void expect_round_trip(const T& message) {
    Buf out;
    encode_message_body(out, message);
    auto back = decode_message_body<T>(Bytes(out));
    ASSERT_TRUE(back) << back.error().message << " at " << back.error().offset;
    EXPECT_EQ(*back, message);
    for (std::size_t n = 0; n < out.size(); ++n) {
        ASSERT_FALSE(decode_message_body<T>(Bytes(out).first(n))) << "prefix " << n;
    }
}

RequestHeader header() {
    RequestHeader h;
    h.authentication_token = NodeId{0, ByteString{std::byte{9}, std::byte{8}}};
    h.timestamp = DateTime{kUnixEpochTicks};
    h.request_handle = 42;
    h.timeout_hint = 5000;
    return h;
}

ResponseHeader response() {
    ResponseHeader h;
    h.timestamp = DateTime{kUnixEpochTicks + 1};
    h.request_handle = 42;
    h.string_table = {"a", "b"};
    return h;
}

EndpointDescription endpoint() {
    EndpointDescription e;
    e.endpoint_url = "opc.tcp://plc:4840";
    e.server.application_uri = "urn:plc";
    e.server.application_name = LocalizedText{"en", "PLC"};
    e.server.application_type = ApplicationType::Server;
    e.server.discovery_urls = {"opc.tcp://plc:4840"};
    e.server_certificate = ByteString(3, std::byte{0x30});
    e.security_mode = MessageSecurityMode::SignAndEncrypt;
    e.security_policy_uri = "http://opcfoundation.org/UA/SecurityPolicy#Basic256Sha256";
    e.user_identity_tokens = {UserTokenPolicy{"anon", UserTokenType::Anonymous, "", "", ""},
                              UserTokenPolicy{"user", UserTokenType::UserName, "", "", "x"}};
    e.transport_profile_uri = "http://opcfoundation.org/UA-Profile/Transport/uatcp-uasc-uabinary";
    e.security_level = 3;
    return e;
}

TEST(OpcuaServiceMessage, RoundTripsTheSessionServices) {
    OpenSecureChannelRequest open;
    open.request_header = header();
    open.client_nonce = ByteString(32, std::byte{1});
    expect_round_trip(open);
    OpenSecureChannelResponse opened;
    opened.response_header = response();
    opened.security_token = ChannelSecurityToken{5, 6, DateTime{7}, 600000};
    expect_round_trip(opened);
    expect_round_trip(CloseSecureChannelRequest{header()});
    expect_round_trip(GetEndpointsRequest{header(), "opc.tcp://plc:4840", {"en"}, {}});
    expect_round_trip(GetEndpointsResponse{response(), {endpoint(), endpoint()}});
    CreateSessionRequest create;
    create.request_header = header();
    create.client_description.application_uri = "urn:ironbridge";
    create.session_name = "ironbridge";
    create.client_nonce = ByteString(32, std::byte{2});
    create.max_response_message_size = 1 << 24;
    expect_round_trip(create);
    CreateSessionResponse created;
    created.response_header = response();
    created.session_id = NodeId{1, 77u};
    created.authentication_token = NodeId{0, Guid{1, 2, 3, {4, 5, 6, 7, 8, 9, 10, 11}}};
    created.revised_session_timeout = 30000;
    created.server_endpoints = {endpoint()};
    created.server_signature = SignatureData{"alg", ByteString(2, std::byte{3})};
    expect_round_trip(created);
    ActivateSessionRequest activate;
    activate.request_header = header();
    activate.locale_ids = {"en"};
    activate.user_identity_token = make_extension_object(UserNameIdentityToken{"user", "op", ByteString(3, std::byte{'p'}), ""});
    expect_round_trip(activate);
    expect_round_trip(ActivateSessionResponse{response(), ByteString(32, std::byte{4}), {status::Good}, {}});
    expect_round_trip(CloseSessionRequest{header(), true});
    expect_round_trip(CloseSessionResponse{response()});
}

TEST(OpcuaServiceMessage, RoundTripsReadAndWrite) {
    ReadRequest read;
    read.request_header = header();
    read.nodes_to_read = {ReadValueId{NodeId{3, std::string("\"DB1\".\"x\"")}, 13, "", {}},
                          ReadValueId{NodeId{0, 2255u}, 13, "1:2", QualifiedName{0, "Default Binary"}}};
    expect_round_trip(read);
    ReadResponse result;
    result.response_header = response();
    DataValue dv;
    dv.value = Variant::array<BuiltinType::String>(std::vector<std::string>{"http://opcfoundation.org/UA/", "urn:x"});
    dv.server_timestamp = DateTime{99};
    result.results = {dv, DataValue{Variant{}, status::BadNotReadable, {}, 0, {}, 0}};
    expect_round_trip(result);
    WriteRequest write;
    write.request_header = header();
    DataValue setpoint;
    setpoint.value = Variant::scalar<BuiltinType::Double>(42.5);
    write.nodes_to_write = {WriteValue{NodeId{2, 1001u}, 13, "", setpoint}};
    expect_round_trip(write);
    expect_round_trip(WriteResponse{response(), {status::Good, status::BadTypeMismatch}, {}});
}

TEST(OpcuaServiceMessage, RoundTripsTheViewServices) {
    BrowseRequest browse;
    browse.request_header = header();
    browse.requested_max_references_per_node = 100;
    browse.nodes_to_browse = {BrowseDescription{NodeId{0, 85u}}};
    expect_round_trip(browse);
    ReferenceDescription ref;
    ref.reference_type_id = NodeId{0, 35u};
    ref.node_id = ExpandedNodeId{NodeId{2, std::string("Line1")}, "", 0};
    ref.browse_name = QualifiedName{2, "Line1"};
    ref.display_name = LocalizedText{"", "Line 1"};
    ref.node_class = NodeClass::Object;
    ref.type_definition = ExpandedNodeId{NodeId{0, 61u}, "", 0};
    expect_round_trip(BrowseResponse{response(), {BrowseResult{status::Good, ByteString(4, std::byte{1}), {ref, ref}}}, {}});
    expect_round_trip(BrowseNextRequest{header(), true, {ByteString(4, std::byte{1})}});
    expect_round_trip(BrowseNextResponse{response(), {BrowseResult{status::Good, {}, {ref}}}, {}});
    TranslateBrowsePathsToNodeIdsRequest translate;
    translate.request_header = header();
    translate.browse_paths = {BrowsePath{NodeId{0, 85u}, RelativePath{{RelativePathElement{NodeId{0, 33u}, false, true, QualifiedName{2, "Line1"}},
                                                                        RelativePathElement{NodeId{0, 33u}, false, true, QualifiedName{2, "Temp"}}}}}};
    expect_round_trip(translate);
    expect_round_trip(TranslateBrowsePathsToNodeIdsResponse{
        response(), {BrowsePathResult{status::Good, {BrowsePathTarget{ExpandedNodeId{NodeId{2, 5u}, "", 0}, UINT32_MAX}}}}, {}});
}

TEST(OpcuaServiceMessage, RoundTripsTheSubscriptionServices) {
    CreateSubscriptionRequest sub;
    sub.request_header = header();
    sub.requested_publishing_interval = 500;
    expect_round_trip(sub);
    expect_round_trip(CreateSubscriptionResponse{response(), 12, 500, 30, 10});
    CreateMonitoredItemsRequest items;
    items.request_header = header();
    items.subscription_id = 12;
    MonitoredItemCreateRequest item;
    item.item_to_monitor.node_id = NodeId{2, std::string("Temp")};
    item.requested_parameters.client_handle = 3;
    item.requested_parameters.sampling_interval = 100;
    items.items_to_create = {item, item};
    expect_round_trip(items);
    expect_round_trip(CreateMonitoredItemsResponse{response(), {MonitoredItemCreateResult{status::Good, 1, 100, 1, {}}}, {}});
    expect_round_trip(DeleteSubscriptionsRequest{header(), {12, 13}});
    expect_round_trip(DeleteSubscriptionsResponse{response(), {status::Good}, {}});
    expect_round_trip(PublishRequest{header(), {SubscriptionAcknowledgement{12, 4}}});
    expect_round_trip(TransferSubscriptionsRequest{header(), {12, 13}, true});
    expect_round_trip(TransferSubscriptionsResponse{
        response(), {TransferResult{status::Good, {4, 5}}, TransferResult{status::BadSubscriptionIdInvalid, {}}}, {}});
}

TEST(OpcuaServiceMessage, CarriesDataChangesInAPublishResponse) {
    DataChangeNotification change;
    DataValue dv;
    dv.value = Variant::scalar<BuiltinType::Double>(3.25);
    dv.source_timestamp = from_unix_ms(1732200000123);
    change.monitored_items = {MonitoredItemNotification{3, dv}, MonitoredItemNotification{4, DataValue{}}};
    PublishResponse publish;
    publish.response_header = response();
    publish.subscription_id = 12;
    publish.available_sequence_numbers = {5};
    publish.notification_message.sequence_number = 5;
    publish.notification_message.notification_data = {make_extension_object(change)};
    expect_round_trip(publish);

    Buf out;
    encode_message_body(out, publish);
    auto r = decode_response(Bytes(out));
    ASSERT_TRUE(r);
    const auto& got = std::get<PublishResponse>(*r);
    auto data = decode_extension_object_body<DataChangeNotification>(got.notification_message.notification_data.at(0));
    ASSERT_TRUE(data);
    EXPECT_EQ(*data, change);
    EXPECT_EQ(unix_ms(data->monitored_items[0].value.source_timestamp), 1732200000123);
}

}  // namespace
}  // namespace ib::drivers::opcua
