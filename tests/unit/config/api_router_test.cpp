#include "api/router.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

namespace ib::api {
namespace {

HttpRequest request(std::string_view method, std::string_view path) {
    HttpRequest r;
    r.method = method;
    r.target = path;
    r.path = path;
    return r;
}

HttpResponse text(std::string body) {
    HttpResponse r;
    r.content_type = "text/plain";
    r.body = std::move(body);
    return r;
}

TEST(ApiRouter, ExactPathAndMethodSelectTheHandler) {
    Router router;
    router.add("GET", "/a", [](const HttpRequest&) { return text("get a"); });
    router.add("POST", "/a", [](const HttpRequest&) { return text("post a"); });
    router.add("GET", "/b", [](const HttpRequest&) { return text("get b"); });
    EXPECT_EQ(router.dispatch(request("GET", "/a")).body, "get a");
    EXPECT_EQ(router.dispatch(request("POST", "/a")).body, "post a");
    EXPECT_EQ(router.dispatch(request("GET", "/b")).body, "get b");
}

TEST(ApiRouter, UnknownPathIs404WithThePathInJson) {
    Router router;
    router.add("GET", "/a", [](const HttpRequest&) { return text("a"); });
    HttpResponse r = router.dispatch(request("GET", "/a/\"x"));
    EXPECT_EQ(r.status, 404u);
    EXPECT_EQ(r.content_type, "application/json");
    EXPECT_EQ(r.body, R"({"error":"not found","path":"/a/\"x"})");
}

TEST(ApiRouter, WrongMethodIs405WithAllow) {
    Router router;
    router.add("GET", "/a", [](const HttpRequest&) { return text("a"); });
    router.add("PUT", "/a", [](const HttpRequest&) { return text("a"); });
    HttpResponse r = router.dispatch(request("DELETE", "/a"));
    EXPECT_EQ(r.status, 405u);
    EXPECT_EQ(r.body, R"({"error":"method not allowed","method":"DELETE","path":"/a"})");
    ASSERT_EQ(r.headers.size(), 1u);
    EXPECT_EQ(r.headers[0].first, "Allow");
    EXPECT_EQ(r.headers[0].second, "GET, PUT");
}

TEST(ApiRouter, PrefixRoutesMatchBelowTheirPathOnly) {
    Router router;
    router.add("GET", "/api/v1/devices/*", [](const HttpRequest& r) { return text(std::string(r.path)); });
    EXPECT_EQ(router.dispatch(request("GET", "/api/v1/devices/plc1")).body, "/api/v1/devices/plc1");
    EXPECT_EQ(router.dispatch(request("GET", "/api/v1/devices/")).status, 200u);
    EXPECT_EQ(router.dispatch(request("GET", "/api/v1/devicesX")).status, 404u);
    EXPECT_EQ(router.dispatch(request("POST", "/api/v1/devices/plc1")).status, 405u);
}

TEST(ApiRouter, ExactBeatsPrefixAndLongestPrefixWins) {
    Router router;
    router.add("GET", "/x/*", [](const HttpRequest&) { return text("short"); });
    router.add("GET", "/x/y/*", [](const HttpRequest&) { return text("long"); });
    router.add("GET", "/x/y/z", [](const HttpRequest&) { return text("exact"); });
    EXPECT_EQ(router.dispatch(request("GET", "/x/a")).body, "short");
    EXPECT_EQ(router.dispatch(request("GET", "/x/y/a")).body, "long");
    EXPECT_EQ(router.dispatch(request("GET", "/x/y/z")).body, "exact");
}

HttpResponse echo_params(const HttpRequest& r) {
    std::string out;
    for (const auto& [k, v] : r.params) out += std::string(k) + "=" + v + ";";
    return text(out);
}

TEST(ApiRouter, PatternHandsItsParametersToTheHandler) {
    Router router;
    router.add("DELETE", "/api/v1/devices/{name}/groups/{group}/tags/{tag}", echo_params);
    HttpResponse r = router.dispatch(request("DELETE", "/api/v1/devices/plc1/groups/fast/tags/t1"));
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(r.body, "name=plc1;group=fast;tag=t1;");
    router.add("GET", "/r/{id}", [](const HttpRequest& q) { return text(std::string(q.param("id")) + "|" + std::string(q.param("nope"))); });
    EXPECT_EQ(router.dispatch(request("GET", "/r/abc")).body, "abc|");
}

TEST(ApiRouter, ParametersArePercentDecoded) {
    Router router;
    router.add("GET", "/d/{name}", echo_params);
    EXPECT_EQ(router.dispatch(request("GET", "/d/plc%201%2Fa+b")).body, "name=plc 1/a+b;");
    // A broken escape matches nothing rather than guessing.
    EXPECT_EQ(router.dispatch(request("GET", "/d/x%2")).status, 404u);
    EXPECT_EQ(router.dispatch(request("GET", "/d/x%zz")).status, 404u);
}

TEST(ApiRouter, ParameterMatchesExactlyOneNonEmptySegment) {
    Router router;
    router.add("GET", "/d/{name}", echo_params);
    EXPECT_EQ(router.dispatch(request("GET", "/d/a")).status, 200u);
    EXPECT_EQ(router.dispatch(request("GET", "/d/")).status, 404u);
    EXPECT_EQ(router.dispatch(request("GET", "/d")).status, 404u);
    EXPECT_EQ(router.dispatch(request("GET", "/d/a/b")).status, 404u);
    EXPECT_EQ(router.dispatch(request("GET", "/d/a/")).status, 404u);
    EXPECT_EQ(router.dispatch(request("GET", "/e/a")).status, 404u);
}

TEST(ApiRouter, ExactBeatsPatternAndLiteralSegmentBeatsParameter) {
    Router router;
    router.add("GET", "/rules/{id}", [](const HttpRequest& r) { return text("rule " + std::string(r.param("id"))); });
    router.add("POST", "/rules/test", [](const HttpRequest&) { return text("test"); });
    router.add("GET", "/d/{name}/{what}", [](const HttpRequest&) { return text("any"); });
    router.add("GET", "/d/{name}/values", [](const HttpRequest&) { return text("values"); });
    router.add("GET", "/x/*", [](const HttpRequest&) { return text("prefix"); });
    router.add("GET", "/x/{a}", [](const HttpRequest&) { return text("pattern"); });
    EXPECT_EQ(router.dispatch(request("GET", "/rules/r1")).body, "rule r1");
    EXPECT_EQ(router.dispatch(request("POST", "/rules/test")).body, "test");
    // As for exact and prefix routes: the exact path answers 405, not the broader pattern.
    EXPECT_EQ(router.dispatch(request("GET", "/rules/test")).status, 405u);
    EXPECT_EQ(router.dispatch(request("GET", "/d/p/values")).body, "values");
    EXPECT_EQ(router.dispatch(request("GET", "/d/p/other")).body, "any");
    EXPECT_EQ(router.dispatch(request("GET", "/x/1")).body, "pattern");
    EXPECT_EQ(router.dispatch(request("GET", "/x/1/2")).body, "prefix");
}

TEST(ApiRouter, PatternWrongMethodIs405WithAllowOfThatShape) {
    Router router;
    router.add("GET", "/d/{name}", echo_params);
    router.add("PUT", "/d/{id}", echo_params);
    router.add("POST", "/d/{name}/write", echo_params);
    HttpResponse r = router.dispatch(request("DELETE", "/d/p1"));
    EXPECT_EQ(r.status, 405u);
    ASSERT_EQ(r.headers.size(), 1u);
    EXPECT_EQ(r.headers[0].second, "GET, PUT");
    // Each method's route names its parameters its own way.
    EXPECT_EQ(router.dispatch(request("PUT", "/d/p1")).body, "id=p1;");
    EXPECT_EQ(router.dispatch(request("GET", "/d/p1")).body, "name=p1;");
}

TEST(ApiRouter, HandlerExceptionBecomes500) {
    Router router;
    router.add("GET", "/boom", [](const HttpRequest&) -> HttpResponse { throw std::runtime_error("kaput"); });
    HttpResponse r = router.dispatch(request("GET", "/boom"));
    EXPECT_EQ(r.status, 500u);
    EXPECT_EQ(r.body, R"({"error":"internal error: kaput"})");
}

TEST(ApiRouter, HeaderLookupIgnoresCase) {
    HttpRequest r;
    r.headers = {{"Content-Type", "text/plain"}, {"X-Id", "7"}};
    EXPECT_EQ(r.header("content-type"), "text/plain");
    EXPECT_EQ(r.header("X-ID"), "7");
    EXPECT_EQ(r.header("Accept"), "");
}

}  // namespace
}  // namespace ib::api
