#include "app/node_identity.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace ib::app {
namespace {

struct TempDir {
    std::filesystem::path path;
    TempDir() {
        char tmpl[] = "/tmp/ib-node-id-XXXXXX";
        path = mkdtemp(tmpl);
    }
    ~TempDir() { std::filesystem::remove_all(path); }
};

TEST(NodeIdentity, AFleetEdgeIsItsSiteAndEdge) {
    TempDir dir;
    fleet::FleetConfig fleet;
    fleet.present = true;
    fleet.site = "lyon";
    fleet.edge = "press-7";
    EXPECT_EQ(node_identity(fleet, dir.path.string()).value(), "lyon-press-7");
    EXPECT_FALSE(std::filesystem::exists(dir.path / "node_id"));
}

TEST(NodeIdentity, WithoutAFleetAnIdIsMadeOnceAndKeptPerDataDir) {
    TempDir a, b;
    const auto first = node_identity({}, a.path.string());
    ASSERT_TRUE(first.has_value()) << first.error();
    EXPECT_EQ(node_identity({}, a.path.string()).value(), *first);
    EXPECT_NE(node_identity({}, b.path.string()).value(), *first);
}

TEST(NodeIdentity, AnOperatorsIdIsKeptAndABadOneNamesTheFile) {
    TempDir dir;
    std::ofstream(dir.path / "node_id") << "hall-3\n";
    EXPECT_EQ(node_identity({}, dir.path.string()).value(), "hall-3");
    std::ofstream(dir.path / "node_id") << "hall 3/x\n";
    const auto bad = node_identity({}, dir.path.string());
    ASSERT_FALSE(bad.has_value());
    EXPECT_NE(bad.error().find("node_id"), std::string::npos) << bad.error();
}

}  // namespace
}  // namespace ib::app
