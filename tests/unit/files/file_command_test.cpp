#include "files/file_command.hpp"

#include <gtest/gtest.h>

namespace ib::files {
namespace {

const std::string kHex = "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881";  // sha256("x")

TEST(FileTopic, ParsesEveryCommand) {
    auto init = parse_file_topic("$file/f1/init");
    ASSERT_TRUE(init);
    EXPECT_EQ(init->kind, CommandKind::Init);
    EXPECT_EQ(init->file_id, "f1");
    EXPECT_FALSE(init->async);

    auto seg = parse_file_topic("$file-async/f1/1024/" + kHex);
    ASSERT_TRUE(seg);
    EXPECT_EQ(seg->kind, CommandKind::Segment);
    EXPECT_TRUE(seg->async);
    EXPECT_EQ(seg->offset, 1024u);
    ASSERT_TRUE(seg->checksum);
    EXPECT_EQ(sha256_hex(*seg->checksum), kHex);

    auto fin = parse_file_topic("$file/f1/fin/10");
    ASSERT_TRUE(fin);
    EXPECT_EQ(fin->kind, CommandKind::Fin);
    EXPECT_EQ(fin->size, 10u);
    EXPECT_FALSE(fin->checksum);

    auto abort = parse_file_topic("$file/f1/abort");
    ASSERT_TRUE(abort);
    EXPECT_EQ(abort->kind, CommandKind::Abort);
}

TEST(FileTopic, RefusesMalformedTopicsWithAReason) {
    EXPECT_EQ(parse_file_topic("$file//init").error(), "empty file id");
    EXPECT_EQ(parse_file_topic("$file/f1").error(), "no command after the file id");
    EXPECT_EQ(parse_file_topic("$file/f1/fin").error(), "fin needs the file size: fin/{size}[/{checksum}]");
    EXPECT_EQ(parse_file_topic("$file/f1/fin/ten").error(), "fin size is not a number: 'ten'");
    EXPECT_EQ(parse_file_topic("$file/f1/init/x").error(), "nothing may follow init");
    EXPECT_EQ(parse_file_topic("$file/f1/12/abc").error(),
              "checksum of the segment is not a SHA-256 in hex: 'abc'");
    EXPECT_EQ(parse_file_topic("$file/f1/12/" + kHex + "/x").error(), "too many levels after the segment");
    EXPECT_EQ(parse_file_topic("$file/f1/-1").error(), "unknown command '-1' (init, {offset}, fin, abort)");
    EXPECT_EQ(parse_file_topic("$file/f1/99999999999999999999999").error(),
              "unknown command '99999999999999999999999' (init, {offset}, fin, abort)");
}

TEST(FileInit, ReadsTheMetadata) {
    const std::string body = R"({"name":"a.wav","size":10,"checksum":")" + kHex +
                             R"(","expire_at":1767225600,"segments_ttl":60,"user_data":{"station": 4}})";
    auto m = parse_init(as_bytes(body));
    ASSERT_TRUE(m) << m.error();
    EXPECT_EQ(m->name, "a.wav");
    EXPECT_EQ(m->size, 10u);
    EXPECT_EQ(sha256_hex(*m->checksum), kHex);
    EXPECT_EQ(m->expire_at, 1767225600);
    EXPECT_EQ(m->segments_ttl_s, 60u);
    EXPECT_EQ(m->user_data_json, R"({"station":4})");
}

TEST(FileInit, RefusesBadBodiesWithAReason) {
    EXPECT_EQ(parse_init(as_bytes("{")).error(), "init: the body is not JSON");
    EXPECT_EQ(parse_init(as_bytes("[]")).error(), "init: the body is not a JSON object");
    EXPECT_EQ(parse_init(as_bytes(R"({"size":1})")).error(), "init: name (a string) is required");
    EXPECT_EQ(parse_init(as_bytes(R"({"name":".."})")).error(), "init: name may not be '.', '..' or hold '/'");
    EXPECT_EQ(parse_init(as_bytes(R"({"name":"a/b"})")).error(), "init: name may not be '.', '..' or hold '/'");
    EXPECT_EQ(parse_init(as_bytes(R"({"name":"a","size":-1})")).error(), "init: size must be a whole number of bytes");
    EXPECT_EQ(parse_init(as_bytes(R"({"name":"a","checksum":"00"})")).error(), "init: checksum must be a SHA-256 in hex");
}

}  // namespace
}  // namespace ib::files
