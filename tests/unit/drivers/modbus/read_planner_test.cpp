#include "drivers/modbus/read_planner.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <set>
#include <vector>

namespace ib::drivers::modbus {
namespace {

using Indices = std::vector<uint32_t>;

ModbusAddress reg(uint16_t address, DataType type = DataType::Uint16, uint8_t unit = 1,
                  Area area = Area::HoldingRegister) {
    ModbusAddress a;
    a.unit = unit;
    a.area = area;
    a.address = address;
    a.type = type;
    return a;
}

ModbusAddress text(uint16_t address, uint16_t length) {
    ModbusAddress a = reg(address, DataType::String);
    a.length = length;
    return a;
}

ModbusAddress bit_of(uint16_t address, uint8_t bit) {
    ModbusAddress a = reg(address, DataType::Bool);
    a.bit = bit;
    return a;
}

ModbusAddress coil(uint16_t address, uint8_t unit = 1, Area area = Area::Coil) {
    return reg(address, DataType::Bool, unit, area);
}

PlanOptions gap(uint16_t max_gap) {
    PlanOptions options;
    options.max_gap = max_gap;
    return options;
}

void expect_request(const ReadRequest& r, uint8_t unit, Area area, uint16_t address, uint16_t count,
                    const Indices& tags) {
    EXPECT_EQ(r.unit, unit);
    EXPECT_EQ(r.area, area);
    EXPECT_EQ(r.address, address);
    EXPECT_EQ(r.count, count);
    EXPECT_EQ(r.tags, tags);
}

TEST(PlanReads, NoTagsNeedNoRequests) {
    EXPECT_TRUE(plan_reads({}, PlanOptions{}).empty());
}

TEST(PlanReads, OneTagIsOneRequestOfItsSpan) {
    const ModbusAddress tags[] = {reg(7, DataType::Float64)};
    auto plan = plan_reads(tags, PlanOptions{});
    ASSERT_EQ(plan.size(), 1u);
    expect_request(plan[0], 1, Area::HoldingRegister, 7, 4, {0});
}

TEST(PlanReads, MergesAdjacentTags) {
    const ModbusAddress tags[] = {reg(0), reg(1, DataType::Float32), reg(3), reg(4, DataType::Int64)};
    auto plan = plan_reads(tags, gap(0));
    ASSERT_EQ(plan.size(), 1u);
    expect_request(plan[0], 1, Area::HoldingRegister, 0, 8, {0, 1, 2, 3});
}

TEST(PlanReads, BridgesAGapOfExactlyMaxGap) {
    // The first tag ends at 1; 16 unrequested registers (1..16) before 17.
    const ModbusAddress tags[] = {reg(0), reg(17)};
    auto plan = plan_reads(tags, gap(16));
    ASSERT_EQ(plan.size(), 1u);
    expect_request(plan[0], 1, Area::HoldingRegister, 0, 18, {0, 1});
}

TEST(PlanReads, SplitsAtAGapOneBeyondMaxGap) {
    const ModbusAddress tags[] = {reg(0), reg(18)};
    auto plan = plan_reads(tags, gap(16));
    ASSERT_EQ(plan.size(), 2u);
    expect_request(plan[0], 1, Area::HoldingRegister, 0, 1, {0});
    expect_request(plan[1], 1, Area::HoldingRegister, 18, 1, {1});
}

TEST(PlanReads, MaxGapZeroMergesOnlyAdjacentOrOverlappingTags) {
    const ModbusAddress tags[] = {reg(0, DataType::Float32), reg(1), reg(2), reg(4)};
    auto plan = plan_reads(tags, gap(0));
    ASSERT_EQ(plan.size(), 2u);
    expect_request(plan[0], 1, Area::HoldingRegister, 0, 3, {0, 1, 2});
    expect_request(plan[1], 1, Area::HoldingRegister, 4, 1, {3});
}

TEST(PlanReads, GapIsMeasuredFromTheFurthestEndNotTheLastTag) {
    // The string covers 0..9; the uint16 at 2 ends earlier; 26 is 16 past 10.
    const ModbusAddress tags[] = {text(0, 10), reg(2), reg(26)};
    auto plan = plan_reads(tags, gap(16));
    ASSERT_EQ(plan.size(), 1u);
    expect_request(plan[0], 1, Area::HoldingRegister, 0, 27, {0, 1, 2});
}

TEST(PlanReads, FillsExactly125RegistersButNotOneMore) {
    {
        const ModbusAddress tags[] = {reg(0), reg(124)};
        auto plan = plan_reads(tags, gap(200));
        ASSERT_EQ(plan.size(), 1u);
        expect_request(plan[0], 1, Area::HoldingRegister, 0, 125, {0, 1});
    }
    {
        // A float32 at 124 would end at 126: it starts the next request.
        const ModbusAddress tags[] = {reg(0), reg(124, DataType::Float32)};
        auto plan = plan_reads(tags, gap(200));
        ASSERT_EQ(plan.size(), 2u);
        expect_request(plan[0], 1, Area::HoldingRegister, 0, 1, {0});
        expect_request(plan[1], 1, Area::HoldingRegister, 124, 2, {1});
    }
    {
        const ModbusAddress tags[] = {reg(0), reg(125)};
        auto plan = plan_reads(tags, gap(200));
        ASSERT_EQ(plan.size(), 2u);
    }
}

TEST(PlanReads, AStringOf125RegistersIsARequestOfItsOwn) {
    const ModbusAddress tags[] = {reg(0), text(1, 125), reg(126)};
    auto plan = plan_reads(tags, gap(0));
    ASSERT_EQ(plan.size(), 3u);
    expect_request(plan[0], 1, Area::HoldingRegister, 0, 1, {0});
    expect_request(plan[1], 1, Area::HoldingRegister, 1, 125, {1});
    expect_request(plan[2], 1, Area::HoldingRegister, 126, 1, {2});
}

TEST(PlanReads, FillsExactly2000BitsButNotOneMore) {
    {
        const ModbusAddress tags[] = {coil(0), coil(1999)};
        auto plan = plan_reads(tags, gap(2000));
        ASSERT_EQ(plan.size(), 1u);
        expect_request(plan[0], 1, Area::Coil, 0, 2000, {0, 1});
    }
    {
        const ModbusAddress tags[] = {coil(0), coil(2000)};
        auto plan = plan_reads(tags, gap(2000));
        ASSERT_EQ(plan.size(), 2u);
        expect_request(plan[0], 1, Area::Coil, 0, 1, {0});
        expect_request(plan[1], 1, Area::Coil, 2000, 1, {1});
    }
    {
        const ModbusAddress tags[] = {coil(5, 1, Area::DiscreteInput), coil(2004, 1, Area::DiscreteInput)};
        auto plan = plan_reads(tags, gap(2000));
        ASSERT_EQ(plan.size(), 1u);
        expect_request(plan[0], 1, Area::DiscreteInput, 5, 2000, {0, 1});
    }
}

TEST(PlanReads, BitAreasUseTheBitLimitAndRegisterAreasTheRegisterLimit) {
    // 200 apart: over the register limit, well under the bit limit.
    const ModbusAddress tags[] = {coil(0), coil(199), reg(0), reg(199)};
    auto plan = plan_reads(tags, gap(500));
    ASSERT_EQ(plan.size(), 3u);
    expect_request(plan[0], 1, Area::Coil, 0, 200, {0, 1});
    expect_request(plan[1], 1, Area::HoldingRegister, 0, 1, {2});
    expect_request(plan[2], 1, Area::HoldingRegister, 199, 1, {3});
}

TEST(PlanReads, HonoursSmallerLimitsFromTheOptions) {
    PlanOptions options;
    options.max_registers = 4;
    options.max_bits = 8;
    options.max_gap = 100;
    const ModbusAddress tags[] = {reg(0), reg(3), reg(4), coil(0), coil(7), coil(8)};
    auto plan = plan_reads(tags, options);
    ASSERT_EQ(plan.size(), 4u);
    expect_request(plan[0], 1, Area::Coil, 0, 8, {3, 4});
    expect_request(plan[1], 1, Area::Coil, 8, 1, {5});
    expect_request(plan[2], 1, Area::HoldingRegister, 0, 4, {0, 1});
    expect_request(plan[3], 1, Area::HoldingRegister, 4, 1, {2});
}

TEST(PlanReads, NeverMixesUnits) {
    const ModbusAddress tags[] = {reg(1, DataType::Uint16, 2), reg(0, DataType::Uint16, 1), reg(1, DataType::Uint16, 1),
                                  reg(0, DataType::Uint16, 2)};
    auto plan = plan_reads(tags, PlanOptions{});
    ASSERT_EQ(plan.size(), 2u);
    expect_request(plan[0], 1, Area::HoldingRegister, 0, 2, {1, 2});
    expect_request(plan[1], 2, Area::HoldingRegister, 0, 2, {3, 0});
}

TEST(PlanReads, NeverMixesAreasAndOrdersThemByArea) {
    const ModbusAddress tags[] = {reg(0, DataType::Uint16, 1, Area::HoldingRegister),
                                  reg(0, DataType::Uint16, 1, Area::InputRegister), coil(0, 1, Area::DiscreteInput),
                                  coil(0, 1, Area::Coil)};
    auto plan = plan_reads(tags, PlanOptions{});
    ASSERT_EQ(plan.size(), 4u);
    expect_request(plan[0], 1, Area::Coil, 0, 1, {3});
    expect_request(plan[1], 1, Area::DiscreteInput, 0, 1, {2});
    expect_request(plan[2], 1, Area::InputRegister, 0, 1, {1});
    expect_request(plan[3], 1, Area::HoldingRegister, 0, 1, {0});
}

TEST(PlanReads, OrdersRequestsByUnitThenAreaThenAddressWhateverTheInputOrder) {
    const ModbusAddress tags[] = {
        reg(500, DataType::Uint16, 1),                       // 0
        reg(9, DataType::Uint16, 3, Area::InputRegister),   // 1
        coil(100, 2),                                        // 2
        reg(0, DataType::Uint16, 1),                         // 3
        reg(4, DataType::Uint16, 2, Area::InputRegister),   // 4
    };
    auto plan = plan_reads(tags, PlanOptions{});
    ASSERT_EQ(plan.size(), 5u);
    expect_request(plan[0], 1, Area::HoldingRegister, 0, 1, {3});
    expect_request(plan[1], 1, Area::HoldingRegister, 500, 1, {0});
    expect_request(plan[2], 2, Area::Coil, 100, 1, {2});
    expect_request(plan[3], 2, Area::InputRegister, 4, 1, {4});
    expect_request(plan[4], 3, Area::InputRegister, 9, 1, {1});
}

TEST(PlanReads, ListsEachRequestsTagsInAddressOrder) {
    const ModbusAddress tags[] = {reg(9), reg(3), reg(6), reg(0)};
    auto plan = plan_reads(tags, PlanOptions{});
    ASSERT_EQ(plan.size(), 1u);
    expect_request(plan[0], 1, Area::HoldingRegister, 0, 10, {3, 1, 2, 0});
}

TEST(PlanReads, OverlappingTagsShareARequest) {
    // Two bits of one register, a float32 and a uint16 on its first half, a bit of
    // its second half: all inside registers 10..11.
    const ModbusAddress tags[] = {bit_of(10, 3), reg(10, DataType::Float32), reg(10), bit_of(10, 5), bit_of(11, 0)};
    auto plan = plan_reads(tags, gap(0));
    ASSERT_EQ(plan.size(), 1u);
    expect_request(plan[0], 1, Area::HoldingRegister, 10, 2, {0, 1, 2, 3, 4});
}

TEST(PlanReads, ATagInsideALongerOneDoesNotGrowTheRequest) {
    const ModbusAddress tags[] = {text(0, 10), reg(5), reg(9, DataType::Uint16)};
    auto plan = plan_reads(tags, gap(0));
    ASSERT_EQ(plan.size(), 1u);
    expect_request(plan[0], 1, Area::HoldingRegister, 0, 10, {0, 1, 2});
}

TEST(PlanReads, ReachesTheLastRegisterOfTheAddressSpace) {
    const ModbusAddress tags[] = {reg(65532, DataType::Uint64), reg(65535)};
    auto plan = plan_reads(tags, PlanOptions{});
    ASSERT_EQ(plan.size(), 1u);
    expect_request(plan[0], 1, Area::HoldingRegister, 65532, 4, {0, 1});
}

TEST(SplitRequest, SplitsIntoHalvesEachCoveringOnlyItsOwnTags) {
    const ModbusAddress tags[] = {reg(0), reg(1, DataType::Float32), reg(10), reg(20, DataType::Float64)};
    auto plan = plan_reads(tags, PlanOptions{});
    ASSERT_EQ(plan.size(), 1u);
    auto halves = split_request(plan[0], tags);
    ASSERT_EQ(halves.size(), 2u);
    expect_request(halves[0], 1, Area::HoldingRegister, 0, 3, {0, 1});
    expect_request(halves[1], 1, Area::HoldingRegister, 10, 14, {2, 3});
}

TEST(SplitRequest, GivesTheFirstHalfTheSmallerShareOfAnOddCount) {
    const ModbusAddress tags[] = {reg(0), reg(1), reg(2)};
    auto plan = plan_reads(tags, PlanOptions{});
    ASSERT_EQ(plan.size(), 1u);
    auto halves = split_request(plan[0], tags);
    ASSERT_EQ(halves.size(), 2u);
    expect_request(halves[0], 1, Area::HoldingRegister, 0, 1, {0});
    expect_request(halves[1], 1, Area::HoldingRegister, 1, 2, {1, 2});
}

TEST(SplitRequest, KeepsTheUnitAndArea) {
    const ModbusAddress tags[] = {coil(3, 9, Area::DiscreteInput), coil(7, 9, Area::DiscreteInput)};
    auto plan = plan_reads(tags, PlanOptions{});
    ASSERT_EQ(plan.size(), 1u);
    auto halves = split_request(plan[0], tags);
    ASSERT_EQ(halves.size(), 2u);
    expect_request(halves[0], 9, Area::DiscreteInput, 3, 1, {0});
    expect_request(halves[1], 9, Area::DiscreteInput, 7, 1, {1});
}

TEST(SplitRequest, DoesNotSplitASingleTag) {
    const ModbusAddress tags[] = {reg(0, DataType::Float32)};
    auto plan = plan_reads(tags, PlanOptions{});
    ASSERT_EQ(plan.size(), 1u);
    EXPECT_TRUE(split_request(plan[0], tags).empty());
}

TEST(SplitRequest, DoesNotSplitTagsThatAllStartAtOneAddress) {
    const ModbusAddress tags[] = {reg(5, DataType::Float32), reg(5), bit_of(5, 1)};
    auto plan = plan_reads(tags, PlanOptions{});
    ASSERT_EQ(plan.size(), 1u);
    EXPECT_TRUE(split_request(plan[0], tags).empty());
}

TEST(SplitRequest, KeepsTagsAtOneAddressTogether) {
    // The middle (2 of 4) falls between the two tags at 5: split before them instead.
    const ModbusAddress tags[] = {reg(0), reg(5), bit_of(5, 2), reg(9)};
    auto plan = plan_reads(tags, PlanOptions{});
    ASSERT_EQ(plan.size(), 1u);
    auto halves = split_request(plan[0], tags);
    ASSERT_EQ(halves.size(), 2u);
    expect_request(halves[0], 1, Area::HoldingRegister, 0, 1, {0});
    expect_request(halves[1], 1, Area::HoldingRegister, 5, 5, {1, 2, 3});
}

TEST(SplitRequest, SplitsOverlappingTagsAtTheirStarts) {
    // A float32 at 0 overlaps the uint16 at 1; the halves overlap too, and each is
    // still exactly its tags' extent.
    const ModbusAddress tags[] = {reg(0, DataType::Float32), reg(1)};
    auto plan = plan_reads(tags, PlanOptions{});
    ASSERT_EQ(plan.size(), 1u);
    auto halves = split_request(plan[0], tags);
    ASSERT_EQ(halves.size(), 2u);
    expect_request(halves[0], 1, Area::HoldingRegister, 0, 2, {0});
    expect_request(halves[1], 1, Area::HoldingRegister, 1, 1, {1});
}

// How the driver uses the two: plan, and on "illegal data address" split until
// the failing requests hold only the tags that cannot be read.
TEST(SplitRequest, RepeatedSplittingIsolatesTheUnreadableTag) {
    std::vector<ModbusAddress> tags;
    for (uint16_t a = 0; a < 40; a += 3) tags.push_back(reg(a));
    tags.push_back(reg(20, DataType::Float32));  // index 14: registers 20..21
    const uint16_t hole = 21;                    // the device has no register 21
    auto plan = plan_reads(tags, PlanOptions{});
    ASSERT_EQ(plan.size(), 1u);

    std::set<uint32_t> failed;
    int requests = 0;
    std::function<void(const ReadRequest&)> run = [&](const ReadRequest& r) {
        ++requests;
        const bool ok = !(r.address <= hole && hole < r.address + r.count);
        if (ok) return;
        auto halves = split_request(r, tags);
        if (halves.empty()) {
            failed.insert(r.tags.begin(), r.tags.end());
            return;
        }
        for (const auto& h : halves) run(h);
    };
    run(plan[0]);
    // The uint16 at 21 (index 7) and the float32 at 20..21 (index 14) both touch the hole.
    EXPECT_EQ(failed, (std::set<uint32_t>{7, 14}));
    EXPECT_LT(requests, 20);
}

}  // namespace
}  // namespace ib::drivers::modbus
