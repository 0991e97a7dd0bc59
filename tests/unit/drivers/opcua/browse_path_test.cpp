// The RelativePath text of OPC 10000-4 Annex A.2, as tag addresses use it.
#include <gtest/gtest.h>

#include "drivers/opcua/browse_path.hpp"

namespace ib::drivers::opcua {
namespace {

RelativePathElement element(uint32_t reference, uint16_t ns, std::string name) {
    RelativePathElement e;
    e.reference_type_id = NodeId{0, reference};
    e.target_name = QualifiedName{ns, std::move(name)};
    return e;
}

TEST(OpcuaBrowsePath, ReadsNamesWithTheirNamespaceAndReferenceKind) {
    auto path = parse_browse_path("/2:Line1.2:Temp/Other");
    ASSERT_TRUE(path) << path.error().message;
    EXPECT_EQ(path->elements, (std::vector<RelativePathElement>{element(33, 2, "Line1"), element(44, 2, "Temp"),
                                                                element(33, 0, "Other")}));
    EXPECT_TRUE(is_browse_path("/2:Line1"));
    EXPECT_TRUE(is_browse_path(".Temp"));
    EXPECT_FALSE(is_browse_path("ns=2;s=/Line1"));
}

TEST(OpcuaBrowsePath, TakesEscapedCharactersAsTheyAre) {
    auto path = parse_browse_path("/3:\"DB1\"&.\"Speed\"/a&/b&&c/12&:x");
    ASSERT_TRUE(path) << path.error().message;
    ASSERT_EQ(path->elements.size(), 3u);
    EXPECT_EQ(path->elements[0].target_name, (QualifiedName{3, "\"DB1\".\"Speed\""}));
    EXPECT_EQ(path->elements[1].target_name, (QualifiedName{0, "a/b&c"}));
    EXPECT_EQ(path->elements[2].target_name, (QualifiedName{0, "12:x"}));
}

TEST(OpcuaBrowsePath, RefusesEmptyNamesAndTrailingEscapesWithTheOffset) {
    EXPECT_EQ(parse_browse_path("/2:Line1//Temp").error().offset, 9u);
    EXPECT_EQ(parse_browse_path("/Temp&").error().offset, 6u);
    EXPECT_FALSE(parse_browse_path("/70000:Temp"));
    EXPECT_FALSE(parse_browse_path(""));
    EXPECT_FALSE(parse_browse_path("Temp"));
}

}  // namespace
}  // namespace ib::drivers::opcua
