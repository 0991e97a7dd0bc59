// A tag's name, address and unit: kept per tag while a config is built, then
// packed into one buffer per device that copies of the config share.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "drivers/device_config.hpp"

namespace {

using namespace ib::drivers;

TagConfig tag(std::string name, std::string address, std::string unit = "") {
    TagConfig t;
    t.set_name(name);
    t.set_address(address);
    t.set_unit(unit);
    return t;
}

DeviceConfig device_of(std::initializer_list<std::initializer_list<TagConfig>> groups) {
    DeviceConfig d;
    for (const auto& tags : groups) d.groups.push_back(GroupConfig{.name = "g", .tags = tags});
    return d;
}

TEST(TagTexts, EachTextIsSetAloneAndEmptyByDefault) {
    TagConfig t;
    EXPECT_EQ(t.name(), "");
    EXPECT_EQ(t.address(), "");
    t.set_address("ns=2;s=Line1.Temp");
    t.set_unit("degC");
    t.set_name("temp");
    EXPECT_EQ(t.name(), "temp");
    EXPECT_EQ(t.address(), "ns=2;s=Line1.Temp");
    EXPECT_EQ(t.unit(), "degC");
    t.set_address("");
    EXPECT_EQ(t.name(), "temp");
    EXPECT_EQ(t.address(), "");
    EXPECT_EQ(t.unit(), "degC");
}

TEST(TagTexts, PackedTextsReadTheSameAndOutliveTheConfigTheyCameFrom) {
    auto device = std::make_unique<DeviceConfig>(
        device_of({{tag("a", "ns=1;s=A", "bar"), tag("b", "")}, {tag("long_name_of_a_tag", "ns=1;s=B.0")}}));
    pack_tag_texts(*device);
    const auto& g0 = device->groups[0].tags;
    EXPECT_EQ(g0[0].name().data() + g0[0].name().size() + g0[0].address().size(), g0[0].unit().data())
        << "one buffer, each tag's texts side by side";
    EXPECT_EQ(g0[0].unit().data() + 3, g0[1].name().data());
    DeviceConfig copy = *device;
    device.reset();
    EXPECT_EQ(copy.groups[0].tags[0].name(), "a");
    EXPECT_EQ(copy.groups[0].tags[0].address(), "ns=1;s=A");
    EXPECT_EQ(copy.groups[0].tags[0].unit(), "bar");
    EXPECT_EQ(copy.groups[0].tags[1].name(), "b");
    EXPECT_EQ(copy.groups[0].tags[1].address(), "");
    EXPECT_EQ(copy.groups[1].tags[0].name(), "long_name_of_a_tag");
    EXPECT_EQ(copy.groups[1].tags[0].address(), "ns=1;s=B.0");
}

TEST(TagTexts, ATextSetAfterPackingChangesThatTagAlone) {
    DeviceConfig device = device_of({{tag("a", "ns=1;s=A"), tag("b", "ns=1;s=B")}});
    pack_tag_texts(device);
    DeviceConfig copy = device;
    copy.groups[0].tags[0].set_name("renamed");
    EXPECT_EQ(copy.groups[0].tags[0].name(), "renamed");
    EXPECT_EQ(copy.groups[0].tags[0].address(), "ns=1;s=A");
    EXPECT_EQ(device.groups[0].tags[0].name(), "a");
    EXPECT_EQ(copy.groups[0].tags[1].name(), "b");
    pack_tag_texts(copy);
    EXPECT_EQ(copy.groups[0].tags[0].name(), "renamed");
    EXPECT_EQ(copy.groups[0].tags[1].address(), "ns=1;s=B");
}

}  // namespace
