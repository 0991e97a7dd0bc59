// The client link against a real OPC UA server: node-opcua from the npm registry
// (tests/peers/opcua/server.js, installed by scripts/install-deps.sh), started
// once for these tests on 127.0.0.1. Policy None, anonymous session, Read.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <utility>  // before Asio: Boost 1.74 coroutine headers need it

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>

#include "drivers/opcua/client_link.hpp"
#include "drivers/opcua/node_id.hpp"
#include "drivers/opcua/status_code.hpp"

namespace ib::drivers::opcua {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

fs::path peer_dir() { return fs::path(IB_SOURCE_DIR) / "tests" / "peers" / "opcua"; }

// A port nobody listens on right now (bound, read and released).
uint16_t free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return ntohs(a.sin_port);
}

// `node server.js <port> <pki>`, waited for until it prints READY, stopped by its
// pid with SIGTERM (then SIGKILL) at the end.
class NodePeer {
public:
    bool start(std::string& why) {
        if (!fs::exists(peer_dir() / "node_modules" / "node-opcua")) {
            why = "tests/peers/opcua/node_modules is missing: run scripts/install-deps.sh";
            return false;
        }
        port_ = free_port();
        // Kept in the build tree between runs, wherever the test runs from: the
        // server makes its certificate (an RSA key) on first start only.
        pki_ = fs::path(IB_BINARY_DIR) / "tests" / "opcua-peer-pki";
        int out[2];
        if (::pipe(out) != 0) {
            why = "pipe failed";
            return false;
        }
        pid_ = ::fork();
        if (pid_ == 0) {
            ::dup2(out[1], STDOUT_FILENO);
            ::close(out[0]);
            ::close(out[1]);
            const std::string script = (peer_dir() / "server.js").string();
            const std::string port = std::to_string(port_);
            const std::string pki = pki_.string();
            ::execlp("node", "node", script.c_str(), port.c_str(), pki.c_str(), static_cast<char*>(nullptr));
            ::_exit(127);
        }
        ::close(out[1]);
        // The server generates its certificate on first start: allow it time.
        std::string seen;
        const auto deadline = std::chrono::steady_clock::now() + 60s;
        while (std::chrono::steady_clock::now() < deadline) {
            pollfd p{out[0], POLLIN, 0};
            if (::poll(&p, 1, 200) <= 0) continue;
            char buf[256];
            const ssize_t n = ::read(out[0], buf, sizeof buf);
            if (n <= 0) break;
            seen.append(buf, static_cast<std::size_t>(n));
            if (seen.find("READY") != std::string::npos) {
                out_ = out[0];
                return true;
            }
        }
        ::close(out[0]);
        why = "node-opcua server did not start: " + seen;
        stop();
        return false;
    }

    void stop() {
        if (pid_ > 0) {
            ::kill(pid_, SIGTERM);
            for (int i = 0; i < 50; ++i) {
                if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
                    pid_ = -1;
                    break;
                }
                ::usleep(100000);
            }
            if (pid_ > 0) {
                ::kill(pid_, SIGKILL);
                ::waitpid(pid_, nullptr, 0);
                pid_ = -1;
            }
        }
        if (out_ >= 0) ::close(out_);
        out_ = -1;
    }

    uint16_t port() const { return port_; }

private:
    pid_t pid_ = -1;
    int out_ = -1;
    uint16_t port_ = 0;
    fs::path pki_;
};

class OpcuaClientLink : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        peer_ = new NodePeer;
        if (!peer_->start(why_)) {
            delete peer_;
            peer_ = nullptr;
        }
    }
    static void TearDownTestSuite() {
        if (peer_ != nullptr) peer_->stop();
        delete peer_;
        peer_ = nullptr;
    }
    void SetUp() override { ASSERT_NE(peer_, nullptr) << why_; }

    ClientConfig config() const {
        ClientConfig c;
        c.host = "127.0.0.1";
        c.port = peer_->port();
        c.endpoint_url = "opc.tcp://127.0.0.1:" + std::to_string(peer_->port()) + "/UA/Ironbridge";
        c.timeout = 10s;
        c.security.policy = SecurityPolicy::None;  // asked for by name
        return c;
    }

    // Runs the loop until `done` is set or 20 s have passed.
    template <typename T>
    void run_until(boost::asio::io_context& io, const std::optional<T>& done) {
        const auto deadline = std::chrono::steady_clock::now() + 20s;
        while (!done && std::chrono::steady_clock::now() < deadline) {
            io.run_for(50ms);
            io.restart();
        }
    }

    static NodePeer* peer_;
    static std::string why_;
};

NodePeer* OpcuaClientLink::peer_ = nullptr;
std::string OpcuaClientLink::why_;

ReadValueId value_of(std::string_view node) {
    ReadValueId r;
    r.node_id = parse_node_id(node).value();
    return r;
}

TEST_F(OpcuaClientLink, OpensASessionAndReadsEveryTypeFromNodeOpcua) {
    boost::asio::io_context io;
    ClientLink link(io, config());
    std::optional<ClientResult<void>> connected;
    link.connect([&](ClientResult<void> r) { connected = std::move(r); });
    run_until(io, connected);
    ASSERT_TRUE(connected) << "no answer";
    ASSERT_TRUE(*connected) << describe(connected->error().status) << ": " << connected->error().message;
    EXPECT_TRUE(link.session_active());
    EXPECT_GE(link.limits().send_chunk_size, kMinBufferSize);

    std::optional<ClientResult<std::vector<DataValue>>> read;
    link.read({value_of("ns=1;s=Line1.Temp"), value_of("ns=1;i=1001"), value_of("ns=1;s=Line1.Running"),
               value_of("ns=1;s=Line1.State"), value_of("ns=1;s=\"DB_Line\".\"Speed\""), value_of("ns=1;s=Line1.Big"),
               value_of("ns=1;s=Line1.Array"), value_of("ns=1;s=Line1.Bytes"), value_of("ns=1;s=Line1.Secret"),
               value_of("ns=1;s=Line1.Missing"), value_of("i=2255")},
              TimestampsToReturn::Both, [&](auto r) { read = std::move(r); });
    run_until(io, read);
    ASSERT_TRUE(read);
    ASSERT_TRUE(*read) << describe((*read).error().status) << ": " << (*read).error().message;
    const std::vector<DataValue>& v = **read;
    ASSERT_EQ(v.size(), 11u);
    EXPECT_EQ(std::get<11>(v[0].value.values), std::vector<double>{21.5});
    EXPECT_EQ(std::get<6>(v[1].value.values), std::vector<int32_t>{-7});
    EXPECT_EQ(std::get<1>(v[2].value.values), std::vector<bool>{true});
    EXPECT_EQ(std::get<12>(v[3].value.values), std::vector<std::string>{"running"});
    EXPECT_EQ(std::get<10>(v[4].value.values), std::vector<float>{1.5f});
    EXPECT_EQ(std::get<9>(v[5].value.values), std::vector<uint64_t>{5});
    EXPECT_TRUE(v[6].value.is_array);
    EXPECT_EQ(std::get<4>(v[6].value.values), (std::vector<int16_t>{1, -2, 3}));
    EXPECT_EQ(std::get<15>(v[7].value.values), (std::vector<ByteString>{ByteString{std::byte{0xDE}, std::byte{0xAD}}}));
    EXPECT_TRUE(is_good(v[0].status));
    EXPECT_NE(v[0].source_timestamp.ticks, 0);
    EXPECT_EQ(status_name(v[8].status), "BadNotReadable");
    EXPECT_EQ(status_name(v[9].status), "BadNodeIdUnknown");
    // Server.NamespaceArray (i=2255): the OPC UA namespace first, then the server's.
    const auto& namespaces = std::get<12>(v[10].value.values);
    ASSERT_GE(namespaces.size(), 2u);
    EXPECT_EQ(namespaces[0], "http://opcfoundation.org/UA/");
    auto by_uri = parse_expanded_node_id("nsu=" + namespaces[1] + ";s=Line1.Temp");
    ASSERT_TRUE(by_uri);
    EXPECT_EQ(resolve(*by_uri, namespaces).value(), parse_node_id("ns=1;s=Line1.Temp").value());

    // A node that changes every 100 ms reads differently a little later.
    auto tick = [&] {
        std::optional<ClientResult<std::vector<DataValue>>> r;
        link.read({value_of("ns=1;s=Line1.Tick")}, TimestampsToReturn::Neither, [&](auto x) { r = std::move(x); });
        run_until(io, r);
        EXPECT_TRUE(r && *r);
        return (r && *r) ? std::get<7>((**r)[0].value.values).at(0) : 0u;
    };
    const uint32_t first = tick();
    std::this_thread::sleep_for(300ms);
    EXPECT_GT(tick(), first);

    link.close();
    std::optional<ClientResult<std::vector<DataValue>>> after;
    link.read({value_of("i=2255")}, TimestampsToReturn::Both, [&](auto r) { after = std::move(r); });
    run_until(io, after);
    ASSERT_TRUE(after);
    EXPECT_FALSE(*after);
    EXPECT_FALSE(link.session_active());
}

TEST_F(OpcuaClientLink, ReportsAPortWithNoServerAsRejected) {
    boost::asio::io_context io;
    ClientConfig c = config();
    c.port = free_port();
    ClientLink link(io, c);
    std::optional<ClientResult<void>> connected;
    link.connect([&](ClientResult<void> r) { connected = std::move(r); });
    run_until(io, connected);
    ASSERT_TRUE(connected);
    ASSERT_FALSE(*connected);
    EXPECT_EQ(connected->error().status, status::BadConnectionRejected) << connected->error().message;
}

TEST_F(OpcuaClientLink, SendsARequestInManyChunksAndGetsTheServersVerdict) {
    boost::asio::io_context io;
    ClientLink link(io, config());
    std::optional<ClientResult<void>> connected;
    link.connect([&](ClientResult<void> r) { connected = std::move(r); });
    run_until(io, connected);
    ASSERT_TRUE(connected && *connected);
    // 20 000 nodes with string ids: about 600 KB, ten chunks of the 64 KiB the
    // server accepts. node-opcua reassembles them and refuses the batch as a whole
    // (a ServiceFault), which is what a collector must batch around.
    std::vector<ReadValueId> many;
    for (int i = 0; i < 20000; ++i) many.push_back(value_of("ns=1;s=Line1.Temp" + std::to_string(i)));
    std::optional<ClientResult<std::vector<DataValue>>> read;
    link.read(std::move(many), TimestampsToReturn::Neither, [&](auto r) { read = std::move(r); });
    run_until(io, read);
    ASSERT_TRUE(read) << "no answer for a large request";
    ASSERT_FALSE(*read);
    EXPECT_EQ(read->error().status, status::BadTooManyOperations) << read->error().message;
    // The channel and session go on after a ServiceFault.
    std::optional<ClientResult<std::vector<DataValue>>> again;
    link.read({value_of("ns=1;s=Line1.Temp")}, TimestampsToReturn::Both, [&](auto r) { again = std::move(r); });
    run_until(io, again);
    ASSERT_TRUE(again && *again);
    EXPECT_EQ(std::get<11>((**again)[0].value.values), std::vector<double>{21.5});
}

TEST_F(OpcuaClientLink, ReassemblesAResponseTheServerSendsInManyChunks) {
    boost::asio::io_context io;
    ClientConfig c = config();
    c.receive_buffer_size = kMinBufferSize;  // the server may send us 8 KiB chunks only
    ClientLink link(io, c);
    std::optional<ClientResult<void>> connected;
    link.connect([&](ClientResult<void> r) { connected = std::move(r); });
    run_until(io, connected);
    ASSERT_TRUE(connected && *connected) << (connected ? connected->error().message : "");
    // 2 000 DataValues with a String and two timestamps: about 60 KB back.
    std::vector<ReadValueId> nodes(2000, value_of("ns=1;s=Line1.State"));
    std::optional<ClientResult<std::vector<DataValue>>> read;
    link.read(std::move(nodes), TimestampsToReturn::Both, [&](auto r) { read = std::move(r); });
    run_until(io, read);
    ASSERT_TRUE(read);
    ASSERT_TRUE(*read) << describe(read->error().status) << ": " << read->error().message;
    ASSERT_EQ((*read)->size(), 2000u);
    for (const DataValue& v : **read) ASSERT_EQ(std::get<12>(v.value.values), std::vector<std::string>{"running"});
}

// The service codecs against the real server: TranslateBrowsePaths, Browse,
// Write (and a write of the wrong type), and a subscription delivering changes
// through Publish.
TEST_F(OpcuaClientLink, BrowsesWritesAndSubscribesAgainstNodeOpcua) {
    boost::asio::io_context io;
    ClientLink link(io, config());
    std::optional<ClientResult<void>> connected;
    link.connect([&](ClientResult<void> r) { connected = std::move(r); });
    run_until(io, connected);
    ASSERT_TRUE(connected && *connected);

    auto call = [&](auto request) {
        std::optional<ClientResult<Response>> r;
        link.call(std::move(request), [&](ClientResult<Response> x) { r = std::move(x); });
        run_until(io, r);
        EXPECT_TRUE(r) << "no answer";
        if (r && !*r) ADD_FAILURE() << describe(r->error().status) << ": " << r->error().message;
        return r && *r ? std::optional<Response>(std::move(**r)) : std::nullopt;
    };

    // Objects (i=85) / 1:Line1, by browse path (P4 §5.8.4).
    TranslateBrowsePathsToNodeIdsRequest translate;
    translate.browse_paths = {BrowsePath{NodeId{0, 85u}, RelativePath{{RelativePathElement{NodeId{0, 33u}, false, true, QualifiedName{1, "Line1"}}}}}};
    auto translated = call(translate);
    ASSERT_TRUE(translated);
    const auto& paths = std::get<TranslateBrowsePathsToNodeIdsResponse>(*translated);
    ASSERT_EQ(paths.results.size(), 1u);
    ASSERT_TRUE(is_good(paths.results[0].status_code)) << describe(paths.results[0].status_code);
    ASSERT_EQ(paths.results[0].targets.size(), 1u);
    const NodeId line1 = paths.results[0].targets[0].target_id.node;

    BrowseRequest browse;
    browse.nodes_to_browse = {BrowseDescription{line1}};
    auto browsed = call(browse);
    ASSERT_TRUE(browsed);
    const auto& refs = std::get<BrowseResponse>(*browsed).results.at(0).references;
    bool saw_temp = false;
    for (const ReferenceDescription& r : refs) {
        if (r.browse_name.name == "Temp") {
            saw_temp = true;
            EXPECT_EQ(r.node_class, NodeClass::Variable);
            EXPECT_EQ(to_string(r.node_id.node), "ns=1;s=Line1.Temp");
        }
    }
    EXPECT_TRUE(saw_temp) << refs.size() << " references";

    // Write the setpoint, read it back; then a write of the wrong type.
    WriteRequest write;
    DataValue v;
    v.value = Variant::scalar<BuiltinType::Double>(42.5);
    write.nodes_to_write = {WriteValue{parse_node_id("ns=1;s=Line1.Setpoint").value(), 13, "", v}};
    auto written = call(write);
    ASSERT_TRUE(written);
    EXPECT_EQ(std::get<WriteResponse>(*written).results, std::vector<StatusCode>{status::Good});
    std::optional<ClientResult<std::vector<DataValue>>> back;
    link.read({value_of("ns=1;s=Line1.Setpoint")}, TimestampsToReturn::Neither, [&](auto r) { back = std::move(r); });
    run_until(io, back);
    ASSERT_TRUE(back && *back);
    EXPECT_EQ(std::get<11>((**back)[0].value.values), std::vector<double>{42.5});
    write.nodes_to_write[0].value.value = Variant::scalar<BuiltinType::Int32>(int32_t{7});
    auto mismatch = call(write);
    ASSERT_TRUE(mismatch);
    EXPECT_EQ(status_name(std::get<WriteResponse>(*mismatch).results.at(0)), "BadTypeMismatch");

    // A subscription on the 100 ms counter; Publish brings DataChangeNotifications.
    CreateSubscriptionRequest sub;
    sub.requested_publishing_interval = 100;
    auto created = call(sub);
    ASSERT_TRUE(created);
    const uint32_t subscription = std::get<CreateSubscriptionResponse>(*created).subscription_id;
    CreateMonitoredItemsRequest items;
    items.subscription_id = subscription;
    MonitoredItemCreateRequest item;
    item.item_to_monitor = value_of("ns=1;s=Line1.Tick");
    item.requested_parameters.client_handle = 77;
    item.requested_parameters.sampling_interval = 100;
    items.items_to_create = {item};
    auto monitored = call(items);
    ASSERT_TRUE(monitored);
    ASSERT_TRUE(is_good(std::get<CreateMonitoredItemsResponse>(*monitored).results.at(0).status_code));

    std::vector<uint32_t> ticks;
    std::vector<SubscriptionAcknowledgement> acks;
    for (int i = 0; i < 20 && ticks.size() < 3; ++i) {
        PublishRequest publish;
        publish.subscription_acknowledgements = std::exchange(acks, {});
        auto published = call(publish);
        ASSERT_TRUE(published);
        const auto& p = std::get<PublishResponse>(*published);
        EXPECT_EQ(p.subscription_id, subscription);
        for (const ExtensionObject& eo : p.notification_message.notification_data) {
            auto change = decode_extension_object_body<DataChangeNotification>(eo);
            if (!change) continue;
            for (const MonitoredItemNotification& n : change->monitored_items) {
                EXPECT_EQ(n.client_handle, 77u);
                ticks.push_back(std::get<7>(n.value.value.values).at(0));
            }
        }
        if (!p.notification_message.notification_data.empty()) {
            acks.push_back(SubscriptionAcknowledgement{subscription, p.notification_message.sequence_number});
        }
    }
    ASSERT_GE(ticks.size(), 3u);
    EXPECT_LT(ticks.front(), ticks.back());

    DeleteSubscriptionsRequest remove;
    remove.subscription_ids = {subscription};
    auto removed = call(remove);
    ASSERT_TRUE(removed);
    EXPECT_EQ(std::get<DeleteSubscriptionsResponse>(*removed).results, std::vector<StatusCode>{status::Good});
}

}  // namespace
}  // namespace ib::drivers::opcua
