// The fuzz seed corpus (tests/data/mqtt/corpus) and the malformed samples
// (tests/data/mqtt/malformed) are generated here, so they follow the encoder:
//   mqtt_codec_test --gtest_also_run_disabled_tests --gtest_filter='CorpusGen.*'
// The enabled test checks that every malformed sample is still refused.
#include <filesystem>
#include <fstream>
#include <iterator>

#include "codec_test_util.hpp"

namespace ib::mqtt::codec::test {
namespace {

namespace fs = std::filesystem;

fs::path data_dir() { return fs::path(IB_SOURCE_DIR) / "tests/data/mqtt"; }

void write_file(const fs::path& path, const Buf& data) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

Buf read_file(const fs::path& path) {
    std::ifstream f(path, std::ios::binary);
    std::vector<char> chars((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    Buf out(chars.size());
    std::memcpy(out.data(), chars.data(), chars.size());
    return out;
}

struct Sample {
    std::string name;
    Buf wire;
};

std::vector<Sample> valid_samples() {
    std::vector<Sample> s;
    Buf user;
    append_user_property(user, "k", "v");
    const Buf payload = bytes("{\"t\":21.5}");
    const Buf corr = bytes({1, 2});

    for (Version v : {Version::V31, Version::V311, Version::V5}) {
        const std::string tag = v == Version::V31 ? "v31" : v == Version::V311 ? "v311" : "v5";
        Connect c;
        c.version = v;
        c.client_id = "dev1";
        c.keep_alive = 30;
        c.username = "u";
        c.password = Bytes(corr);
        Will w;
        w.topic = "ib/status/dev1";
        w.payload = payload;
        w.qos = 1;
        w.retain = true;
        if (v == Version::V5) {
            w.properties.will_delay_interval = 5;
            c.properties.session_expiry_interval = 60;
            c.properties.receive_maximum = 10;
            c.properties.user_properties_raw = user;
        }
        c.will = w;
        Buf out;
        encode(out, c);
        s.push_back({tag + "_connect", out});
    }
    for (Version v : {Version::V311, Version::V5}) {
        const bool v5 = v == Version::V5;
        const std::string tag = v5 ? "v5_" : "v311_";
        auto add = [&](const std::string& name, auto&& packet, auto... version) {
            Buf out;
            encode(out, packet, version...);
            s.push_back({tag + name, out});
        };
        Connack ca;
        ca.session_present = true;
        if (v5) {
            ca.properties.assigned_client_identifier = "auto-1";
            ca.properties.maximum_qos = 1;
            ca.properties.topic_alias_maximum = 5;
        }
        add("connack", ca, v);
        Publish p;
        p.topic = "ib/data/plc1/fast";
        p.payload = payload;
        add("publish_qos0", p, v);
        p.qos = 1;
        p.packet_id = 1;
        p.retain = true;
        if (v5) {
            p.properties.message_expiry_interval = 10;
            p.properties.content_type = "application/json";
            p.properties.response_topic = "r/t";
            p.properties.correlation_data = Bytes(corr);
            p.properties.user_properties_raw = user;
            p.properties.subscription_ids[0] = 300;
            p.properties.subscription_id_count = 1;
        }
        add("publish_qos1", p, v);
        p.qos = 2;
        p.dup = true;
        add("publish_qos2", p, v);
        if (v5) {
            Publish alias;
            alias.properties.topic_alias = 2;
            alias.payload = payload;
            add("publish_alias", alias, v);
        }
        for (auto t : {PacketType::Puback, PacketType::Pubrec, PacketType::Pubrel, PacketType::Pubcomp}) {
            Ack a;
            a.type = t;
            a.packet_id = 1;
            if (v5 && t == PacketType::Pubrec) {
                a.reason_code = reason::kQuotaExceeded;
                a.properties.reason_string = "full";
            }
            add("ack" + std::to_string(static_cast<int>(t)), a, v);
        }
        Subscribe sub;
        sub.packet_id = 2;
        sub.topics = {{"ib/data/+/fast", 1}, {"#", 0}};
        if (v5) {
            sub.topics.push_back({"$share/g/ib/#", 2, false, true, 2});
            sub.properties.subscription_ids[0] = 7;
            sub.properties.subscription_id_count = 1;
        }
        add("subscribe", sub, v);
        Suback sa;
        sa.packet_id = 2;
        sa.reason_codes = {1, 0, 0x80};
        add("suback", sa, v);
        Unsubscribe un;
        un.packet_id = 3;
        un.filters = {"ib/data/+/fast", "#"};
        add("unsubscribe", un, v);
        Unsuback ua;
        ua.packet_id = 3;
        if (v5) ua.reason_codes = {0, 0x11};
        add("unsuback", ua, v);
        add("pingreq", Pingreq{});
        add("pingresp", Pingresp{});
        Disconnect d;
        if (v5) {
            d.reason_code = reason::kServerShuttingDown;
            d.properties.reason_string = "bye";
        }
        add("disconnect", d, v);
        if (v5) {
            Auth au;
            au.reason_code = 0x18;
            au.properties.authentication_method = "SCRAM-SHA-1";
            au.properties.authentication_data = Bytes(corr);
            add("auth", au);
        }
    }
    // Several packets in one input, as one TCP read delivers them.
    Buf stream;
    for (const auto& sample : s) {
        if (sample.name.starts_with("v311_")) {
            stream.insert(stream.end(), sample.wire.begin(), sample.wire.end());
        }
    }
    s.push_back({"v311_stream", stream});
    return s;
}

// Name prefix: the version(s) that must refuse the sample.
std::vector<Sample> malformed_samples() {
    return {
        {"any_reserved_flags_connack", bytes({0x21, 0x02, 0x00, 0x00})},
        {"any_varint_five_bytes", bytes({0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01})},
        {"any_publish_qos3", frame(0x36, {0x00, 0x01, 't', 0x00, 0x01})},
        {"any_publish_wildcard_topic", frame(0x30, {0x00, 0x03, 'a', '/', '#'})},
        {"any_publish_surrogate_topic", frame(0x30, {0x00, 0x03, 0xED, 0xA0, 0x80})},
        {"any_publish_null_in_topic", frame(0x30, {0x00, 0x02, 'a', 0x00})},
        {"any_publish_overlong_topic", frame(0x30, {0x00, 0x02, 0xC0, 0xAF})},
        {"any_publish_packet_id_0", frame(0x32, {0x00, 0x01, 't', 0x00, 0x00})},
        {"any_publish_topic_overrun", frame(0x30, {0x00, 0x09, 'a'})},
        {"any_subscribe_no_topics", frame(0x82, {0x00, 0x01})},
        {"any_unsubscribe_no_topics", frame(0xA2, {0x00, 0x01})},
        {"any_connect_reserved_flag", frame(0x10, {0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x03, 0x00,
                                                   0x3C, 0x00, 0x01, 'c'})},
        {"any_connect_will_qos_without_will", frame(0x10, {0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x0A,
                                                           0x00, 0x3C, 0x00, 0x01, 'c'})},
        {"any_connect_unknown_level", frame(0x10, {0x00, 0x04, 'M', 'Q', 'T', 'T', 0x07, 0x02, 0x00,
                                                   0x3C, 0x00, 0x01, 'c'})},
        {"any_connect_unknown_name", frame(0x10, {0x00, 0x04, 'M', 'Q', 'T', 'Z', 0x04, 0x02, 0x00,
                                                  0x3C, 0x00, 0x01, 'c'})},
        {"v311_connect_password_without_user", frame(0x10, {0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x42,
                                                            0x00, 0x3C, 0x00, 0x01, 'c', 0x00, 0x00})},
        {"v311_subscribe_reserved_bits", frame(0x82, {0x00, 0x01, 0x00, 0x01, 'a', 0x04})},
        {"v5_subscribe_retain_handling_3", frame(0x82, {0x00, 0x01, 0x00, 0x00, 0x01, 'a', 0x30})},
        {"v5_publish_empty_topic_no_alias", frame(0x30, {0x00, 0x00, 0x00})},
        {"v5_publish_repeated_property", frame(0x30, {0x00, 0x01, 't', 0x06, 0x23, 0, 1, 0x23, 0, 2})},
        {"v5_publish_property_not_allowed", frame(0x30, {0x00, 0x01, 't', 0x02, 0x24, 0x01})},
        {"v5_publish_property_overrun", frame(0x30, {0x00, 0x01, 't', 0x7F, 0x23, 0x00})},
        {"v5_auth_data_without_method", frame(0xF0, {0x18, 0x04, 0x16, 0x00, 0x01, 'x'})},
    };
}

TEST(CorpusGen, DISABLED_WriteSeedCorpusAndMalformedSamples) {
    const fs::path corpus = data_dir() / "corpus";
    const fs::path malformed = data_dir() / "malformed";
    fs::create_directories(corpus);
    fs::create_directories(malformed);
    for (const auto& s : valid_samples()) write_file(corpus / (s.name + ".bin"), s.wire);
    for (const auto& s : malformed_samples()) {
        write_file(malformed / (s.name + ".bin"), s.wire);
        write_file(corpus / (std::string("bad_") + s.name + ".bin"), s.wire);
    }
}

TEST(CorpusSamples, EverySeedDecodesInItsVersion) {
    for (const auto& s : valid_samples()) {
        const std::string& name = s.name;
        const Version v = name.starts_with("v5_") ? Version::V5 : Version::V311;
        Bytes rest = s.wire;
        while (!rest.empty()) {
            std::size_t consumed = 0;
            auto r = decode_one(rest, v, consumed);
            ASSERT_TRUE(r && *r) << name << ": " << (r ? "incomplete" : r.error().message);
            rest = rest.subspan(consumed);
        }
    }
}

TEST(MalformedSamples, EverySampleOnDiskIsRefused) {
    const fs::path dir = data_dir() / "malformed";
    ASSERT_TRUE(fs::exists(dir)) << dir;
    int count = 0;
    for (const auto& entry : fs::directory_iterator(dir)) {
        const std::string name = entry.path().filename().string();
        const Buf wire = read_file(entry.path());
        std::vector<Version> versions;
        if (name.starts_with("v311_")) versions = {Version::V311};
        else if (name.starts_with("v5_")) versions = {Version::V5};
        else versions = {Version::V311, Version::V5};
        for (Version v : versions) {
            std::size_t consumed = 0;
            auto r = decode_one(wire, v, consumed);
            EXPECT_FALSE(r.has_value()) << name << " was accepted";
        }
        ++count;
    }
    EXPECT_GE(count, 20);
}

}  // namespace
}  // namespace ib::mqtt::codec::test
