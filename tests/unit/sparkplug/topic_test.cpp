#include "sparkplug/topic.hpp"

#include <gtest/gtest.h>

namespace ib::sparkplug {
namespace {

TEST(SparkplugTopic, BuildsNodeDeviceAndStateTopics) {
    EXPECT_EQ(topic("plant1", MessageType::NBIRTH, "edge1"), "spBv1.0/plant1/NBIRTH/edge1");
    EXPECT_EQ(topic("plant1", MessageType::DDATA, "edge1", "plc1"), "spBv1.0/plant1/DDATA/edge1/plc1");
    EXPECT_EQ(state_topic("scada"), "spBv1.0/STATE/scada");
}

TEST(SparkplugTopic, ParsesCommandsAndState) {
    auto d = parse_topic("spBv1.0/plant1/DCMD/edge1/plc1");
    ASSERT_TRUE(d);
    EXPECT_EQ(d->type, MessageType::DCMD);
    EXPECT_EQ(d->group, "plant1");
    EXPECT_EQ(d->edge, "edge1");
    EXPECT_EQ(d->device, "plc1");
    auto n = parse_topic("spBv1.0/plant1/NCMD/edge1");
    ASSERT_TRUE(n);
    EXPECT_EQ(n->type, MessageType::NCMD);
    EXPECT_EQ(n->device, "");
    auto s = parse_topic("spBv1.0/STATE/scada");
    ASSERT_TRUE(s);
    EXPECT_EQ(s->type, MessageType::STATE);
    EXPECT_EQ(s->host, "scada");
}

TEST(SparkplugTopic, RefusesWhatIsNotASparkplugTopic) {
    for (const char* t : {"spBv1.0", "spBv1.0/plant1", "spBv1.0/plant1/NCMD", "spBv1.0/plant1/NCMD/edge1/extra",
                          "spBv1.0/plant1/DCMD/edge1", "spBv1.0/plant1/XCMD/edge1", "spAv1.0/plant1/NCMD/edge1",
                          "spBv1.0/STATE", "spBv1.0/STATE/a/b", "spBv1.0//NCMD/edge1", "spBv1.0/plant1/STATE/edge1"}) {
        EXPECT_FALSE(parse_topic(t)) << t;
    }
}

TEST(SparkplugTopic, IdsMayNotHoldTopicCharacters) {
    EXPECT_EQ(id_problem("Line 1 (east)"), "");
    EXPECT_NE(id_problem(""), "");
    EXPECT_NE(id_problem("a/b"), "");
    EXPECT_NE(id_problem("a+"), "");
    EXPECT_NE(id_problem("#"), "");
}

}  // namespace
}  // namespace ib::sparkplug
