#include "core/quote.hpp"

#include <gtest/gtest.h>

namespace ib {
namespace {

TEST(Quoted, EscapesQuotesBackslashesAndControlCharacters) {
    EXPECT_EQ(quoted("a\"b\\c\n\x01"), R"("a\"b\\c\n\u0001")");
    EXPECT_EQ(quoted("\t\r\b\f"), R"("\t\r\b\f")");
    // U+007F is legal raw JSON but not a raw TOML basic string.
    EXPECT_EQ(quoted("x\x7fy"), R"("x\u007fy")");
    EXPECT_EQ(quoted("température"), "\"température\"");
}

}  // namespace
}  // namespace ib
