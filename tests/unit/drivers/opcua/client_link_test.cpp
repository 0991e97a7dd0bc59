// The client link against a real OPC UA server: node-opcua from the npm registry
// (tests/peers/opcua/server.js, installed by scripts/install-deps.sh), started
// once for these tests on 127.0.0.1: policy None, anonymous session, Read and
// the service codecs; then the security policies and modes, user logins, and the
// server certificate's trust list.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <utility>  // before Asio: Boost 1.74 coroutine headers need it

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "drivers/opcua/client_link.hpp"
#include "drivers/opcua/node_id.hpp"
#include "drivers/opcua/pki.hpp"
#include "drivers/opcua/status_code.hpp"
#include "test_pki.hpp"

namespace ib::drivers::opcua {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

fs::path peer_dir() { return fs::path(IB_SOURCE_DIR) / "tests" / "peers" / "opcua"; }
// Kept in the build tree between runs, wherever the test runs from: the server
// makes its certificate (an RSA key, slowly) on first start only, and trusts
// ours from there on.
fs::path peer_pki() { return fs::path(IB_BINARY_DIR) / "tests" / "opcua-peer-pki"; }
fs::path client_pki() { return fs::path(IB_BINARY_DIR) / "tests" / "opcua-client-pki"; }

ReadValueId value_of(std::string_view node) {
    ReadValueId r;
    r.node_id = parse_node_id(node).value();
    return r;
}

// A port on 127.0.0.1 bound without listening, for as long as the object
// lives: a connection to it is refused, and no other process can listen on it
// meanwhile (a port merely probed and released could be taken by a server of a
// test running in parallel before we connect).
class RefusingPort {
public:
    RefusingPort() : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
        socklen_t len = sizeof a;
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(a.sin_port);
    }
    ~RefusingPort() { ::close(fd_); }
    RefusingPort(const RefusingPort&) = delete;
    RefusingPort& operator=(const RefusingPort&) = delete;
    uint16_t port() const { return port_; }

private:
    int fd_;
    uint16_t port_ = 0;
};

// A port for the server's own listener, which binds it a moment later, as
// tests/integration/ibharness.py's free_port() chooses one: outside the
// kernel's ephemeral range (which bind(0) probes and outgoing connections draw
// from, so none of those can take it meanwhile), and reserved for this process
// by an abstract Unix socket of the same name as the harness's reservations,
// so no other test process takes it either. The reservation ends with the
// process, however it ends.
uint16_t free_port() {
    int low = 32768, high = 60999;
    if (std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range"); !(range >> low >> high)) low = 32768, high = 60999;
    std::pair<int, int> below{10000, low - 1}, above{high + 1, 65535};
    auto [first, last] = below.second - below.first >= above.second - above.first ? below : above;
    if (last - first < 1000) first = 10000, last = 65535;
    static std::vector<int> reservations;  // held open until the process exits
    const int span = last - first + 1;
    const int start = static_cast<int>(std::random_device{}() % static_cast<unsigned>(span));
    for (int i = 0; i < 2000; ++i) {
        const int port = first + (start + i) % span;
        const int lock = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un name{};
        name.sun_family = AF_UNIX;
        const int n = std::snprintf(name.sun_path + 1, sizeof name.sun_path - 1, "ironbridge-test-port-%d", port);
        const auto name_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + n);
        if (::bind(lock, reinterpret_cast<sockaddr*>(&name), name_len) != 0) {
            ::close(lock);
            continue;
        }
        // SO_REUSEADDR as the server's listener has it: a TIME_WAIT left by an
        // earlier test does not count as taken, a listener or a bound socket does.
        const int probe = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        const int one = 1;
        ::setsockopt(probe, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons(static_cast<uint16_t>(port));
        const bool bound = ::bind(probe, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
        ::close(probe);
        if (!bound) {
            ::close(lock);
            continue;
        }
        reservations.push_back(lock);
        return static_cast<uint16_t>(port);
    }
    ADD_FAILURE() << "no free port in 2000 tries in " << first << "-" << last;
    return 0;
}

// `node server.js <port> <pki>`, waited for until it prints READY, stopped by its
// pid with SIGTERM (then SIGKILL) at the end.
class NodePeer {
public:
    // `application_uri`: one the server's certificate does not name (or, with
    // a `pki` folder of the test's own, the one its certificate names).
    bool start(std::string& why, const std::string& application_uri = "", const fs::path& pki = peer_pki()) {
        if (!fs::exists(peer_dir() / "node_modules" / "node-opcua")) {
            why = "tests/peers/opcua/node_modules is missing: run scripts/install-deps.sh";
            return false;
        }
        port_ = free_port();
        pki_ = pki;
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
            ::execlp("node", "node", script.c_str(), port.c_str(), pki.c_str(),
                     application_uri.empty() ? static_cast<char*>(nullptr) : application_uri.c_str(),
                     static_cast<char*>(nullptr));
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
        // Our certificate, trusted by the server before it starts.
        ClientConfig defaults;
        CertificateRequest request;
        request.application_uri = defaults.application_uri;
        request.common_name = defaults.application_name;
        auto own = test::cached_own_certificate(client_pki(), request);
        if (!own) {
            why_ = own.error().message;
            return;
        }
        fs::create_directories(peer_pki() / "trusted" / "certs");
        put_atomically(peer_pki() / "trusted" / "certs" / ("ironbridge-" + to_hex(sha1(Bytes(own->certificate))) + ".der"),
                       own->certificate);
        peer_ = new NodePeer;
        if (!peer_->start(why_)) {
            delete peer_;
            peer_ = nullptr;
            return;
        }
        // And the server's, trusted by us (the tests of the trust list use pki
        // folders of their own).
        fs::create_directories(client_pki() / "trusted");
        std::ifstream in(peer_pki() / "own" / "certs" / "certificate.pem", std::ios::binary);
        const std::string pem(std::istreambuf_iterator<char>(in), {});
        put_atomically(client_pki() / "trusted" / "server.pem",
                       ByteString(reinterpret_cast<const std::byte*>(pem.data()),
                                  reinterpret_cast<const std::byte*>(pem.data() + pem.size())));
    }

    // ctest runs the tests of this suite in parallel processes: a reader of the
    // folder sees the whole file or none.
    static void put_atomically(const fs::path& path, const ByteString& data) {
        const fs::path temporary = path.string() + "." + std::to_string(::getpid()) + ".tmp";
        std::ofstream(temporary, std::ios::binary)
            .write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
        fs::rename(temporary, path);
    }
    static void TearDownTestSuite() {
        if (peer_ != nullptr) peer_->stop();
        delete peer_;
        peer_ = nullptr;
    }
    void SetUp() override { ASSERT_NE(peer_, nullptr) << why_; }

    ClientConfig config(uint16_t port = 0) const {
        ClientConfig c;
        c.host = "127.0.0.1";
        c.port = port != 0 ? port : peer_->port();
        c.endpoint_url = "opc.tcp://127.0.0.1:" + std::to_string(c.port) + "/UA/Ironbridge";
        c.timeout = 10s;
        c.security.policy = SecurityPolicy::None;  // asked for by name
        return c;
    }

    ClientConfig secure_config(SecurityPolicy policy, MessageSecurityMode mode, fs::path pki = client_pki()) const {
        ClientConfig c = config();
        c.security.policy = policy;
        c.security.mode = mode;
        c.security.pki_dir = pki.string();
        return c;
    }

    // A pki folder with our certificate and nothing trusted yet.
    static fs::path fresh_pki(const std::string& name) {
        const fs::path dir = fs::path(IB_BINARY_DIR) / "tests" / ("opcua-pki-" + name);
        fs::remove_all(dir);
        fs::create_directories(dir);
        fs::copy(client_pki() / "own", dir / "own", fs::copy_options::recursive);
        return dir;
    }

    ClientResult<void> connect(boost::asio::io_context& io, ClientLink& link) {
        std::optional<ClientResult<void>> connected;
        link.connect([&](ClientResult<void> r) { connected = std::move(r); });
        run_until(io, connected);
        if (!connected) return std::unexpected(ClientError{status::BadTimeout, "no answer to connect"});
        return *connected;
    }

    // Connects, reads Line1.Temp and closes.
    void connect_and_read(const ClientConfig& c) {
        boost::asio::io_context io;
        ClientLink link(io, c);
        auto connected = connect(io, link);
        ASSERT_TRUE(connected) << describe(connected.error().status) << ": " << connected.error().message;
        std::optional<ClientResult<std::vector<DataValue>>> read;
        link.read({value_of("ns=1;s=Line1.Temp")}, TimestampsToReturn::Neither, [&](auto r) { read = std::move(r); });
        run_until(io, read);
        ASSERT_TRUE(read && *read) << (read ? read->error().message : "no answer");
        EXPECT_EQ(std::get<11>((**read)[0].value.values), std::vector<double>{21.5});
        link.close();
    }

    void expect_best_endpoint_by_default();
    void expect_user_logins();
    void expect_offers_listed_when_nothing_matches();

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

// A server whose certificate a CA signed, sent with the CA appended (P6
// §6.2.6; node-opcua asks for the chain in certificate.pem): trusting the CA
// alone is enough, under a policy where the channel names the server's
// certificate by thumbprint and the session signs it.
TEST_F(OpcuaClientLink, TrustsAServerThroughTheCaThatSignedTheChainItSends) {
    const fs::path dir = fs::path(IB_BINARY_DIR) / "tests" / ("opcua-chain-peer-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    for (const char* sub : {"own/certs", "own/private", "trusted/certs", "made"}) fs::create_directories(dir / sub);
    const std::string uri = "urn:ironbridge:chain-peer";
    const std::string script =
        "cd '" + (dir / "made").string() + "' && ("
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 30 -subj /CN=PlantCA "
        "-addext keyUsage=critical,keyCertSign,cRLSign -addext basicConstraints=critical,CA:TRUE && "
        "openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj /CN=ChainPeer && "
        "printf 'subjectAltName=URI:" + uri + ",DNS:localhost,IP:127.0.0.1\\nkeyUsage=digitalSignature,"
        "nonRepudiation,keyEncipherment,dataEncipherment\\nextendedKeyUsage=serverAuth,clientAuth\\n' > srv.ext && "
        "openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -extfile srv.ext -out srv.pem && "
        "cat srv.pem ca.pem > ../own/certs/certificate.pem && cp srv.key ../own/private/private_key.pem"
        ") >openssl.log 2>&1";
    ASSERT_EQ(std::system(script.c_str()), 0) << std::ifstream(dir / "made" / "openssl.log").rdbuf();
    // Our certificate, trusted by that server too.
    fs::copy_file(client_pki() / "own" / "certificate.der", dir / "trusted" / "certs" / "ironbridge.der");
    NodePeer chained;
    std::string why;
    ASSERT_TRUE(chained.start(why, uri, dir)) << why;
    const fs::path pki = fresh_pki("chain-" + std::to_string(::getpid()));
    fs::create_directories(pki / "trusted");
    fs::copy_file(dir / "made" / "ca.pem", pki / "trusted" / "PlantCA.pem");
    ClientConfig c = secure_config(SecurityPolicy::Basic256Sha256, MessageSecurityMode::SignAndEncrypt, pki);
    c.port = chained.port();
    c.endpoint_url = "opc.tcp://127.0.0.1:" + std::to_string(c.port) + "/UA/Ironbridge";
    connect_and_read(c);
    chained.stop();
    EXPECT_FALSE(fs::exists(pki / "rejected")) << "the server's certificate was not trusted through its CA";
    fs::remove_all(pki);
    fs::remove_all(dir);
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
    // Polled, not read once after a fixed pause: a loaded machine can hold the
    // server's timer back longer than any pause chosen here.
    const uint32_t first = tick();
    uint32_t later = first;
    for (int i = 0; i < 100 && later <= first; ++i) {
        std::this_thread::sleep_for(100ms);
        later = tick();
    }
    EXPECT_GT(later, first);

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
    const RefusingPort nobody;
    ClientConfig c = config();
    c.port = nobody.port();
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

// One test (one server start, which is slow) for the secured connections: every
// policy and mode, the default choice, the user identities, and the error when
// nothing the server offers fits.
TEST_F(OpcuaClientLink, ConnectsUnderEveryPolicyModeAndIdentity) {
    for (SecurityPolicy policy :
         {SecurityPolicy::Basic256Sha256, SecurityPolicy::Aes128_Sha256_RsaOaep, SecurityPolicy::Aes256_Sha256_RsaPss}) {
        for (MessageSecurityMode mode : {MessageSecurityMode::Sign, MessageSecurityMode::SignAndEncrypt}) {
            SCOPED_TRACE(std::string(policy_name(policy)) + (mode == MessageSecurityMode::Sign ? " Sign" : " SignAndEncrypt"));
            connect_and_read(secure_config(policy, mode));
        }
    }
    expect_best_endpoint_by_default();
    expect_user_logins();
    expect_offers_listed_when_nothing_matches();
}

void OpcuaClientLink::expect_best_endpoint_by_default() {
    boost::asio::io_context io;
    ClientConfig c = config();
    c.security = ClientSecurity{};  // Best, any mode
    c.security.pki_dir = client_pki().string();
    ClientLink link(io, c);
    auto connected = connect(io, link);
    ASSERT_TRUE(connected) << connected.error().message;
    EXPECT_EQ(policy_name(link.endpoint().security_policy_uri), "Aes256_Sha256_RsaPss");
    EXPECT_EQ(link.endpoint().security_mode, MessageSecurityMode::SignAndEncrypt);
    EXPECT_EQ(link.security_failures(), 0u);
    link.close();
}

void OpcuaClientLink::expect_user_logins() {
    ClientConfig c = secure_config(SecurityPolicy::Basic256Sha256, MessageSecurityMode::SignAndEncrypt);
    c.security.identity.type = UserTokenType::UserName;
    c.security.identity.user_name = "operator";
    c.security.identity.password = "s3cret";
    connect_and_read(c);
    // On the None endpoint the token policy asks for the password encrypted.
    ClientConfig plain = c;
    plain.security.policy = SecurityPolicy::None;
    plain.security.mode = MessageSecurityMode::None;
    connect_and_read(plain);

    c.security.identity.password = "wrong";
    boost::asio::io_context io;
    ClientLink link(io, c);
    auto refused = connect(io, link);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().status, status::BadUserAccessDenied) << refused.error().message;

    // An X.509 user: our own certificate and key serve the test.
    ClientConfig x509 = secure_config(SecurityPolicy::Aes256_Sha256_RsaPss, MessageSecurityMode::Sign);
    x509.security.identity.type = UserTokenType::Certificate;
    x509.security.identity.certificate_file = (client_pki() / "own" / "certificate.der").string();
    x509.security.identity.private_key_file = (client_pki() / "own" / "private" / "key.pem").string();
    connect_and_read(x509);
}

void OpcuaClientLink::expect_offers_listed_when_nothing_matches() {
    boost::asio::io_context io;
    ClientConfig c = config();
    c.security.policy = SecurityPolicy::Basic256Sha256;
    c.security.identity.type = UserTokenType::IssuedToken;
    ClientLink link(io, c);
    auto refused = connect(io, link);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().status, status::BadSecurityPolicyRejected);
    EXPECT_NE(refused.error().message.find("Aes256_Sha256_RsaPss/SignAndEncrypt"), std::string::npos) << refused.error().message;
}

// A second link takes the first one's session over (P4 §5.6.3.1) on a secured
// channel: the subscription lives on, and a notification message not yet
// acknowledged comes again with Republish. A session the server does not know
// gets a new one on the same channel instead.
TEST_F(OpcuaClientLink, TakesASessionOverOnANewLinkAndRepublishesWhatWasNotAcknowledged) {
    boost::asio::io_context io;
    const ClientConfig c = secure_config(SecurityPolicy::Basic256Sha256, MessageSecurityMode::SignAndEncrypt);
    auto first = std::make_unique<ClientLink>(io, c);
    auto connected = connect(io, *first);
    ASSERT_TRUE(connected) << connected.error().message;
    EXPECT_FALSE(first->resumed());
    auto call = [&](ClientLink& link, auto request) {
        std::optional<ClientResult<Response>> r;
        link.call(std::move(request), [&](ClientResult<Response> x) { r = std::move(x); });
        run_until(io, r);
        EXPECT_TRUE(r) << "no answer";
        if (r && !*r) ADD_FAILURE() << describe(r->error().status) << ": " << r->error().message;
        return r ? *r : ClientResult<Response>(std::unexpected(ClientError{status::BadTimeout, "no answer"}));
    };
    CreateSubscriptionRequest sub;
    sub.requested_publishing_interval = 100;
    auto created = call(*first, sub);
    ASSERT_TRUE(created);
    const uint32_t subscription = std::get<CreateSubscriptionResponse>(*created).subscription_id;
    CreateMonitoredItemsRequest items;
    items.subscription_id = subscription;
    MonitoredItemCreateRequest item;
    item.item_to_monitor = value_of("ns=1;s=Line1.Tick");
    item.requested_parameters.client_handle = 5;
    item.requested_parameters.sampling_interval = 100;
    items.items_to_create = {item};
    ASSERT_TRUE(call(*first, items));
    uint32_t unacknowledged = 0;
    for (int i = 0; i < 20 && unacknowledged == 0; ++i) {
        auto published = call(*first, PublishRequest{});
        ASSERT_TRUE(published);
        const auto& p = std::get<PublishResponse>(*published);
        if (!p.notification_message.notification_data.empty()) unacknowledged = p.notification_message.sequence_number;
    }
    ASSERT_NE(unacknowledged, 0u);

    const SessionHandle handle = first->session();
    first->abort("the network failed");
    ClientLink second(io, c);
    std::optional<ClientResult<void>> taken;
    second.connect([&](ClientResult<void> r) { taken = std::move(r); }, handle);
    run_until(io, taken);
    ASSERT_TRUE(taken && *taken) << (taken ? taken->error().message : "no answer");
    EXPECT_TRUE(second.resumed());
    RepublishRequest again;
    again.subscription_id = subscription;
    again.retransmit_sequence_number = unacknowledged;
    auto republished = call(second, again);
    ASSERT_TRUE(republished);
    const auto& message = std::get<RepublishResponse>(*republished).notification_message;
    EXPECT_EQ(message.sequence_number, unacknowledged);
    EXPECT_FALSE(message.notification_data.empty());
    auto published = call(second, PublishRequest{});
    ASSERT_TRUE(published);
    EXPECT_EQ(std::get<PublishResponse>(*published).subscription_id, subscription);

    ClientLink third(io, c);
    std::optional<ClientResult<void>> fresh;
    third.connect([&](ClientResult<void> r) { fresh = std::move(r); }, SessionHandle{NodeId{0, 424242u}, {}});
    run_until(io, fresh);
    ASSERT_TRUE(fresh && *fresh) << (fresh ? fresh->error().message : "no answer");
    EXPECT_FALSE(third.resumed());
    std::optional<ClientResult<std::vector<DataValue>>> read;
    third.read({value_of("ns=1;s=Line1.Temp")}, TimestampsToReturn::Neither, [&](auto r) { read = std::move(r); });
    run_until(io, read);
    EXPECT_TRUE(read && *read);
    second.close();
    third.close();
}

// A token of 2.5 s (node-opcua's shortest; it refuses a token after 125 % of
// its life) is renewed at 75 %: reads keep succeeding across two renewals,
// under None and under a policy whose keys change with each token (both links
// in one loop, so the test waits for the renewals once).
TEST_F(OpcuaClientLink, RenewsTheChannelTokenAndKeepsReading) {
    boost::asio::io_context io;
    ClientConfig plain = config();
    ClientConfig secured = secure_config(SecurityPolicy::Basic256Sha256, MessageSecurityMode::SignAndEncrypt);
    plain.requested_lifetime_ms = secured.requested_lifetime_ms = 2500;
    ClientLink none_link(io, plain);
    ClientLink secured_link(io, secured);
    for (ClientLink* link : {&none_link, &secured_link}) {
        auto connected = connect(io, *link);
        ASSERT_TRUE(connected) << describe(connected.error().status) << ": " << connected.error().message;
    }
    // Until both have renewed twice, then a few reads under the newest keys.
    int reads_after = 0;
    const auto deadline = std::chrono::steady_clock::now() + 12s;
    while (reads_after < 3 && std::chrono::steady_clock::now() < deadline) {
        for (ClientLink* link : {&none_link, &secured_link}) {
            std::optional<ClientResult<std::vector<DataValue>>> read;
            link->read({value_of("ns=1;s=Line1.Temp")}, TimestampsToReturn::Neither, [&](auto r) { read = std::move(r); });
            run_until(io, read);
            ASSERT_TRUE(read && *read) << (read ? read->error().message : "no answer") << " after "
                                       << link->renewals() << " renewals";
            EXPECT_EQ(std::get<11>((**read)[0].value.values), std::vector<double>{21.5});
        }
        if (none_link.renewals() >= 2 && secured_link.renewals() >= 2) ++reads_after;
        io.run_for(200ms);
        io.restart();
    }
    EXPECT_GE(none_link.renewals(), 2u);
    EXPECT_GE(secured_link.renewals(), 2u);
    EXPECT_TRUE(none_link.session_active());
    EXPECT_TRUE(secured_link.session_active());
    EXPECT_EQ(secured_link.security_failures(), 0u);
    none_link.close();
    secured_link.close();
}

// The trust list of server certificates: unknown → refused and saved, then
// trusted by the user → connects; trust on first use; a certificate that does
// not name the server's applicationUri (one test: a server start is slow).
TEST_F(OpcuaClientLink, ChecksTheServerCertificateAgainstTheTrustList) {
    const fs::path pki = fresh_pki("untrusted");
    const ClientConfig c = secure_config(SecurityPolicy::Basic256Sha256, MessageSecurityMode::Sign, pki);
    {
        boost::asio::io_context io;
        ClientLink link(io, c);
        auto refused = connect(io, link);
        ASSERT_FALSE(refused);
        EXPECT_EQ(refused.error().status, status::BadCertificateUntrusted) << refused.error().message;
        EXPECT_NE(refused.error().message.find("rejected"), std::string::npos) << refused.error().message;
    }
    const std::vector<CertificateInfo> listed = Pki(pki).list();
    ASSERT_EQ(listed.size(), 1u);
    EXPECT_FALSE(listed[0].trusted);
    ASSERT_TRUE(Pki(pki).trust(listed[0].thumbprint));
    connect_and_read(c);
    fs::remove_all(pki);

    const fs::path first_use = fresh_pki("first-use");
    ClientConfig commissioning = secure_config(SecurityPolicy::Aes256_Sha256_RsaPss, MessageSecurityMode::SignAndEncrypt, first_use);
    commissioning.security.trust_on_first_use = true;
    connect_and_read(commissioning);
    const std::vector<CertificateInfo> trusted = Pki(first_use).list();
    ASSERT_EQ(trusted.size(), 1u);
    EXPECT_TRUE(trusted[0].trusted);
    fs::remove_all(first_use);

    // A server whose certificate names another applicationUri than its endpoints.
    {
        NodePeer impostor;
        std::string why;
        ASSERT_TRUE(impostor.start(why, "urn:ironbridge:impostor")) << why;
        ClientConfig other = secure_config(SecurityPolicy::Basic256Sha256, MessageSecurityMode::SignAndEncrypt);
        other.port = impostor.port();
        other.endpoint_url = "opc.tcp://127.0.0.1:" + std::to_string(other.port) + "/UA/Ironbridge";
        boost::asio::io_context io;
        ClientLink link(io, other);
        auto refused = connect(io, link);
        impostor.stop();
        ASSERT_FALSE(refused);
        EXPECT_EQ(refused.error().status, status::BadCertificateUriInvalid) << refused.error().message;
        EXPECT_NE(refused.error().message.find("urn:ironbridge:impostor"), std::string::npos) << refused.error().message;
    }
}

}  // namespace
}  // namespace ib::drivers::opcua
