// Endpoint selection from a GetEndpoints answer: secure by default, the
// server's securityLevel first, None only by name, a message listing the offers.
#include <gtest/gtest.h>

#include "drivers/opcua/endpoint_selection.hpp"

namespace ib::drivers::opcua {
namespace {

EndpointDescription offer(std::string_view policy, MessageSecurityMode mode, uint8_t level,
                          std::vector<UserTokenType> tokens = {UserTokenType::Anonymous}) {
    EndpointDescription e;
    e.security_policy_uri = "http://opcfoundation.org/UA/SecurityPolicy#" + std::string(policy);
    e.security_mode = mode;
    e.security_level = level;
    for (UserTokenType t : tokens) e.user_identity_tokens.push_back(UserTokenPolicy{"p", t, "", "", ""});
    return e;
}

const std::vector<EndpointDescription> kOffers = {
    offer("None", MessageSecurityMode::None, 0, {UserTokenType::Anonymous, UserTokenType::UserName}),
    offer("Basic256Sha256", MessageSecurityMode::SignAndEncrypt, 5, {UserTokenType::Anonymous, UserTokenType::UserName}),
    offer("Basic256Sha256", MessageSecurityMode::Sign, 5),
    offer("Aes256_Sha256_RsaPss", MessageSecurityMode::Sign, 10),
    offer("Basic128Rsa15", MessageSecurityMode::SignAndEncrypt, 20),  // deprecated: not ours
};

TEST(OpcuaEndpointSelection, TakesTheServersHighestSecurityLevelThenOurRanking) {
    auto best = select_endpoint(kOffers, {});
    ASSERT_TRUE(best) << best.error();
    EXPECT_EQ(describe(*best), "Aes256_Sha256_RsaPss/Sign");
    // Same level: SignAndEncrypt before Sign.
    auto basic = select_endpoint(kOffers, {SecurityPolicy::Basic256Sha256, MessageSecurityMode::Invalid});
    ASSERT_TRUE(basic);
    EXPECT_EQ(describe(*basic), "Basic256Sha256/SignAndEncrypt");
    auto user = select_endpoint(kOffers, {SecurityPolicy::Best, MessageSecurityMode::Invalid, UserTokenType::UserName});
    ASSERT_TRUE(user);
    EXPECT_EQ(describe(*user), "Basic256Sha256/SignAndEncrypt");
}

TEST(OpcuaEndpointSelection, UsesNoneOnlyWhenAskedForByName) {
    const std::vector<EndpointDescription> plain = {offer("None", MessageSecurityMode::None, 0)};
    auto refused = select_endpoint(plain, {});
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().find("None/None (anonymous)"), std::string::npos) << refused.error();
    EXPECT_NE(refused.error().find("only when asked for by name"), std::string::npos) << refused.error();
    auto none = select_endpoint(plain, {SecurityPolicy::None, MessageSecurityMode::Invalid});
    ASSERT_TRUE(none);
    EXPECT_EQ(describe(*none), "None/None");
}

TEST(OpcuaEndpointSelection, ListsTheOffersWhenNothingFits) {
    auto refused = select_endpoint(kOffers, {SecurityPolicy::Aes256_Sha256_RsaPss, MessageSecurityMode::SignAndEncrypt});
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().find("Aes256_Sha256_RsaPss/SignAndEncrypt with anonymous login"), std::string::npos)
        << refused.error();
    EXPECT_NE(refused.error().find("Basic128Rsa15/SignAndEncrypt (anonymous)"), std::string::npos) << refused.error();
}

}  // namespace
}  // namespace ib::drivers::opcua
