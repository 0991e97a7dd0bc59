// StatusCode names and severities (OPC 10000-4 §7.34; values from StatusCode.csv).
#include <gtest/gtest.h>

#include "drivers/opcua/status_code.hpp"

namespace ib::drivers::opcua {
namespace {

TEST(OpcuaStatusCode, NamesTheCodesACollectorMeets) {
    EXPECT_EQ(status_name(status::Good), "Good");
    EXPECT_EQ(status_name(status::BadNodeIdUnknown), "BadNodeIdUnknown");
    EXPECT_EQ(status_name(StatusCode{0x800A0000}), "BadTimeout");
    EXPECT_EQ(status_name(StatusCode{0x80250000}), "BadSessionIdInvalid");
    EXPECT_EQ(status_name(StatusCode{0x80220000}), "BadSecureChannelIdInvalid");
    EXPECT_EQ(status_name(StatusCode{0x801A0000}), "BadCertificateUntrusted");
    EXPECT_EQ(status_name(StatusCode{0x801F0000}), "BadUserAccessDenied");
    EXPECT_EQ(status_name(StatusCode{0x80200000}), "BadIdentityTokenInvalid");
    EXPECT_EQ(status_name(StatusCode{0x80100000}), "BadTooManyOperations");
    EXPECT_EQ(status_name(StatusCode{0x803A0000}), "BadNotReadable");
    EXPECT_EQ(status_name(StatusCode{0x803B0000}), "BadNotWritable");
    EXPECT_EQ(status_name(StatusCode{0x80740000}), "BadTypeMismatch");
    EXPECT_EQ(status_name(StatusCode{0x40940000}), "UncertainEngineeringUnitsExceeded");
}

TEST(OpcuaStatusCode, IgnoresTheInfoBitsWhenNaming) {
    // P4 §7.34.1: the low 16 bits carry InfoType and flags (e.g. Overflow 0x80).
    EXPECT_EQ(status_name(StatusCode{0x00000480}), "Good");
    EXPECT_EQ(status_name(StatusCode{0x80340400}), "BadNodeIdUnknown");
}

TEST(OpcuaStatusCode, DescribesUnknownCodesInHex) {
    EXPECT_EQ(status_name(StatusCode{0x81FF0000}), "");
    EXPECT_EQ(describe(StatusCode{0x81FF0000}), "0x81FF0000");
    EXPECT_EQ(describe(status::BadTimeout), "BadTimeout");
}

TEST(OpcuaStatusCode, TakesTheSeverityFromTheTopTwoBits) {
    EXPECT_TRUE(is_good(StatusCode{0x002F0000}));
    EXPECT_TRUE(is_uncertain(StatusCode{0x40920000}));
    EXPECT_TRUE(is_bad(status::BadTimeout));
    EXPECT_TRUE(is_bad(StatusCode{0xC0000000}));  // reserved severity: never Good
    EXPECT_FALSE(is_good(status::Uncertain));
    EXPECT_FALSE(is_bad(status::Uncertain));
}

}  // namespace
}  // namespace ib::drivers::opcua
