#include "files/file_store.hpp"

#include <gtest/gtest.h>

namespace ib::files {
namespace {

TEST(FileStoreNames, EncodeAnyIdIntoOneSafeComponentAndBack) {
    for (std::string id : {"cam1", "a/b", "..", ".hidden", "sp ace", "x~y@z", "%41", "ü"}) {
        const std::string e = encode_name(id);
        EXPECT_EQ(e.find('/'), std::string::npos) << id;
        EXPECT_NE(e.front(), '.') << id;
        EXPECT_EQ(decode_name(e), id);
    }
    EXPECT_EQ(encode_name("log.2024.tar"), "log.2024.tar");
}

TEST(FileStoreManifest, RoundTripsThroughJson) {
    Manifest m;
    m.client_id = "cam1";
    m.file_id = "f/1";
    m.name = "a \"b\".wav";
    m.size = 1234567890123;
    m.checksum = std::string(64, 'a');
    m.stored_at_ms = 1767225600123;
    m.expire_at = 1767225600;
    m.user_data_json = R"({"k":[1,2]})";
    auto back = manifest_from_json(manifest_to_json(m));
    ASSERT_TRUE(back) << back.error();
    EXPECT_EQ(back->client_id, m.client_id);
    EXPECT_EQ(back->file_id, m.file_id);
    EXPECT_EQ(back->name, m.name);
    EXPECT_EQ(back->size, m.size);
    EXPECT_EQ(back->checksum, m.checksum);
    EXPECT_EQ(back->stored_at_ms, m.stored_at_ms);
    EXPECT_EQ(back->expire_at, m.expire_at);
    EXPECT_EQ(back->user_data_json, m.user_data_json);
}

}  // namespace
}  // namespace ib::files
