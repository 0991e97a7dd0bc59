// The seed corpus of opcua_decode_fuzz (tests/data/opcua/corpus), made from the
// messages a server sends: `stream_*` files are what arrives on the socket (ACK,
// ERR, OPN and MSG chunks, a response in three chunks, an abort chunk), `body_*`
// files are service message bodies alone. Regenerate with
//   opcua_test --gtest_also_run_disabled_tests --gtest_filter='OpcuaCorpusGen.*'
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "drivers/opcua/message_assembler.hpp"
#include "drivers/opcua/service_message.hpp"
#include "drivers/opcua/status_code.hpp"
#include "test_bytes.hpp"

namespace ib::drivers::opcua {
namespace {

namespace fs = std::filesystem;
using test::Buf;

fs::path corpus_dir() { return fs::path(IB_SOURCE_DIR) / "tests" / "data" / "opcua" / "corpus"; }

ResponseHeader header(uint32_t handle, StatusCode result = status::Good) {
    ResponseHeader h;
    h.timestamp = from_unix_ms(1732200000123);
    h.request_handle = handle;
    h.service_result = result;
    return h;
}

template <typename T>
Buf body_of(const T& message) {
    Buf out;
    encode_message_body(out, message);
    return out;
}

// A response as the server sends it: MSG chunks of at most `chunk_size` bytes.
Buf stream_of(const Buf& body, MessageType type, uint32_t request_id, uint32_t& seq, uint32_t chunk_size = 65536) {
    Buf out;
    SecurityHeader security = type == MessageType::Open ? SecurityHeader{AsymmetricSecurityHeader{}}
                                                        : SecurityHeader{SymmetricSecurityHeader{1}};
    auto n = encode_message(out, type, 7, security, request_id, Bytes(body), SendLimits{chunk_size, 0, 0}, seq);
    EXPECT_TRUE(n);
    return out;
}

std::vector<std::pair<std::string, Buf>> seeds() {
    std::vector<std::pair<std::string, Buf>> out;

    OpenSecureChannelResponse opened;
    opened.response_header = header(1);
    opened.security_token = ChannelSecurityToken{7, 1, from_unix_ms(1732200000000), 3600000};

    EndpointDescription endpoint;
    endpoint.endpoint_url = "opc.tcp://127.0.0.1:4840/UA/Server";
    endpoint.server.application_uri = "urn:server";
    endpoint.server.application_name = LocalizedText{"en", "Server"};
    endpoint.server.application_type = ApplicationType::Server;
    endpoint.security_mode = MessageSecurityMode::None;
    endpoint.security_policy_uri = std::string(kSecurityPolicyNone);
    endpoint.user_identity_tokens = {UserTokenPolicy{"anonymous", UserTokenType::Anonymous, "", "", ""},
                                     UserTokenPolicy{"username", UserTokenType::UserName, "", "",
                                                     "http://opcfoundation.org/UA/SecurityPolicy#Basic256Sha256"}};
    endpoint.transport_profile_uri = "http://opcfoundation.org/UA-Profile/Transport/uatcp-uasc-uabinary";
    GetEndpointsResponse endpoints{header(2), {endpoint}};

    CreateSessionResponse session;
    session.response_header = header(3);
    session.session_id = NodeId{1, Guid{0x72962B91, 0xFA75, 0x4AE6, {0x8D, 0x28, 0xB4, 0x04, 0xDC, 0x7D, 0xAF, 0x63}}};
    session.authentication_token = NodeId{0, ByteString(32, std::byte{0x5A})};
    session.revised_session_timeout = 60000;
    session.server_nonce = ByteString(32, std::byte{0x11});
    session.server_endpoints = {endpoint};
    session.max_request_message_size = 1 << 24;

    ActivateSessionResponse activated{header(4), ByteString(32, std::byte{0x22}), {}, {}};

    ReadResponse read;
    read.response_header = header(5);
    auto value = [](Variant v, StatusCode s = status::Good) {
        DataValue dv;
        dv.value = std::move(v);
        dv.status = s;
        dv.source_timestamp = from_unix_ms(1732200000100);
        dv.server_timestamp = from_unix_ms(1732200000120);
        return dv;
    };
    read.results = {value(Variant::scalar<BuiltinType::Boolean>(true)),
                    value(Variant::scalar<BuiltinType::Int32>(-7)),
                    value(Variant::scalar<BuiltinType::Double>(21.5)),
                    value(Variant::scalar<BuiltinType::String>(std::string("running"))),
                    value(Variant::scalar<BuiltinType::DateTime>(from_unix_ms(1732200000000))),
                    value(Variant::array<BuiltinType::Float>(std::vector<float>{1.5f, 2.5f})),
                    value(Variant::scalar<BuiltinType::LocalizedText>(LocalizedText{"en", "hi"})),
                    value(Variant::scalar<BuiltinType::ExtensionObject>(
                        ExtensionObject{NodeId{2, 5001u}, ExtensionObject::Encoding::Binary, Buf(6, std::byte{1})})),
                    value(Variant{}, status::BadNodeIdUnknown),
                    value(Variant::scalar<BuiltinType::UInt16>(uint16_t{9}), StatusCode{0x40940000})};

    WriteResponse written{header(6), {status::Good, status::BadTypeMismatch, status::BadNotWritable}, {}};

    ReferenceDescription ref;
    ref.reference_type_id = NodeId{0, 35u};
    ref.node_id = ExpandedNodeId{NodeId{3, std::string("\"DB_Line\".\"Temp\"")}, "", 0};
    ref.browse_name = QualifiedName{3, "Temp"};
    ref.display_name = LocalizedText{"", "Temp"};
    ref.node_class = NodeClass::Variable;
    ref.type_definition = ExpandedNodeId{NodeId{0, 63u}, "", 0};
    BrowseResponse browse{header(7), {BrowseResult{status::Good, ByteString(8, std::byte{3}), {ref, ref}}}, {}};
    BrowseNextResponse browse_next{header(8), {BrowseResult{status::Good, {}, {ref}}}, {}};
    TranslateBrowsePathsToNodeIdsResponse translated{
        header(9), {BrowsePathResult{status::Good, {BrowsePathTarget{ExpandedNodeId{NodeId{2, 11u}, "urn:x", 0}, UINT32_MAX}}}}, {}};

    CreateSubscriptionResponse subscribed{header(10), 1, 500, 30, 10};
    CreateMonitoredItemsResponse items{header(11), {MonitoredItemCreateResult{status::Good, 1, 100, 1, {}},
                                                     MonitoredItemCreateResult{status::BadNodeIdUnknown, 0, 0, 0, {}}}, {}};
    DeleteSubscriptionsResponse deleted{header(12), {status::Good}, {}};

    DataChangeNotification change;
    change.monitored_items = {MonitoredItemNotification{1, value(Variant::scalar<BuiltinType::Double>(3.25))},
                              MonitoredItemNotification{2, value(Variant{}, StatusCode{0x808C0000})}};
    PublishResponse publish;
    publish.response_header = header(13);
    publish.subscription_id = 1;
    publish.available_sequence_numbers = {4, 5};
    publish.notification_message.sequence_number = 5;
    publish.notification_message.publish_time = from_unix_ms(1732200000200);
    publish.notification_message.notification_data = {make_extension_object(change),
                                                      make_extension_object(StatusChangeNotification{status::BadTimeout, {}})};
    ServiceFault fault{header(14, status::BadSessionIdInvalid)};

    const std::vector<std::pair<std::string, Buf>> bodies = {
        {"open_secure_channel", body_of(opened)}, {"get_endpoints", body_of(endpoints)},
        {"create_session", body_of(session)},     {"activate_session", body_of(activated)},
        {"read", body_of(read)},                  {"write", body_of(written)},
        {"browse", body_of(browse)},              {"browse_next", body_of(browse_next)},
        {"translate", body_of(translated)},       {"create_subscription", body_of(subscribed)},
        {"create_monitored_items", body_of(items)}, {"delete_subscriptions", body_of(deleted)},
        {"publish", body_of(publish)},            {"service_fault", body_of(fault)},
    };
    for (const auto& [name, body] : bodies) out.push_back({"body_" + name, body});

    // The start of a session as the server sends it: ACK, OPN, then MSG responses.
    Buf session_stream;
    encode_acknowledge(session_stream, Acknowledge{0, 65536, 65536, 1 << 24, 64});
    uint32_t seq = 0;
    const Buf opn = stream_of(body_of(opened), MessageType::Open, 1, seq);
    session_stream.insert(session_stream.end(), opn.begin(), opn.end());
    for (std::size_t i = 1; i < bodies.size(); ++i) {
        const Buf msg = stream_of(bodies[i].second, MessageType::Message, static_cast<uint32_t>(i + 1), seq);
        session_stream.insert(session_stream.end(), msg.begin(), msg.end());
    }
    out.push_back({"stream_session", session_stream});

    // A response in chunks of 200 bytes, then an abort chunk for another request.
    uint32_t seq2 = 100;
    Buf chunked = stream_of(body_of(read), MessageType::Message, 9, seq2, 200);
    Buf abort_body;
    {
        BinaryWriter w(abort_body);
        encode(w, status::BadResponseTooLarge);
        encode_string(w, "too large");
    }
    Buf abort;
    {
        BinaryWriter w(abort);
        const auto start = begin_message(w, MessageType::Message, 'A');
        w.u32(7);
        w.u32(1);
        w.u32(next_sequence_number(seq2));
        w.u32(10);
        w.raw(Bytes(abort_body));
        end_message(w, start);
    }
    chunked.insert(chunked.end(), abort.begin(), abort.end());
    out.push_back({"stream_chunked_then_abort", chunked});

    Buf error;
    encode_error(error, ErrorMessage{StatusCode{0x80830000}, "endpoint url not recognized"});
    out.push_back({"stream_error", error});

    out.push_back({"text_node_id_siemens", test::text("ns=3;s=\"DB_Line\".\"Temp\"")});
    out.push_back({"text_node_id_nsu", test::text("svr=1;nsu=urn:factory%3Bline1;g=72962b91-fa75-4ae6-8d28-b404dc7daf63")});
    return out;
}

TEST(OpcuaCorpusGen, DISABLED_WriteSeedCorpus) {
    fs::create_directories(corpus_dir());
    for (const auto& [name, wire] : seeds()) {
        std::ofstream f(corpus_dir() / (name + ".bin"), std::ios::binary | std::ios::trunc);
        f.write(reinterpret_cast<const char*>(wire.data()), static_cast<std::streamsize>(wire.size()));
    }
}

// What the corpus holds must be what the decoders accept: each body decodes as a
// response, each stream frames, chunks and reassembles to the end.
TEST(OpcuaCorpus, EverySeedOnDiskDecodes) {
    ASSERT_TRUE(fs::exists(corpus_dir())) << corpus_dir();
    int count = 0;
    for (const auto& entry : fs::directory_iterator(corpus_dir())) {
        const std::string name = entry.path().filename().string();
        std::ifstream f(entry.path(), std::ios::binary);
        Buf wire;
        for (auto it = std::istreambuf_iterator<char>(f); it != std::istreambuf_iterator<char>(); ++it) {
            wire.push_back(static_cast<std::byte>(*it));
        }
        ++count;
        if (name.starts_with("body_")) {
            auto r = decode_response(Bytes(wire));
            EXPECT_TRUE(r) << name << ": " << (r ? "" : r.error().message);
        } else if (name.starts_with("stream_")) {
            MessageAssembler assembler({1 << 20, 64});
            Bytes rest(wire);
            int messages = 0;
            while (!rest.empty()) {
                auto frame = next_frame(rest, 1 << 16);
                ASSERT_TRUE(frame && *frame) << name;
                const Frame& fr = **frame;
                if (fr.header.type == MessageType::Message || fr.header.type == MessageType::Open) {
                    auto chunk = decode_chunk(fr);
                    ASSERT_TRUE(chunk) << name;
                    auto ev = assembler.add(*chunk);
                    ASSERT_TRUE(ev) << name << ": " << ev.error().message;
                    if (auto* m = std::get_if<AssembledMessage>(&*ev)) {
                        EXPECT_TRUE(decode_response(m->body)) << name;
                        ++messages;
                    }
                }
                rest = rest.subspan(fr.message.size());
            }
            EXPECT_TRUE(messages > 0 || name == "stream_error.bin") << name;
        }
    }
    EXPECT_GE(count, 18);
}

}  // namespace
}  // namespace ib::drivers::opcua
