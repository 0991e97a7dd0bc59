// The embedded console files: content negotiation, revalidation, and the
// query-string helper the event stream reads its filter with.
#include "api/static_files.hpp"

#include <gtest/gtest.h>

#include <string>

namespace ib::api {
namespace {

HttpRequest get(std::string_view path, std::vector<std::pair<std::string_view, std::string_view>> headers = {}) {
    HttpRequest r;
    r.method = "GET";
    r.path = path;
    r.target = path;
    r.headers = std::move(headers);
    return r;
}

std::string header(const HttpResponse& r, std::string_view name) {
    for (const auto& [k, v] : r.headers) {
        if (k == name) return v;
    }
    return {};
}

TEST(StaticFiles, IndexIsEmbeddedWithItsVendorPathsFilledIn) {
    const StaticFile* index = find_static_file("/");
    ASSERT_NE(index, nullptr);
    EXPECT_EQ(index->content_type, "text/html; charset=utf-8");
    EXPECT_EQ(index->cache_control, "no-cache");
    EXPECT_EQ(index->plain.find("{{vendor:"), std::string_view::npos);
    EXPECT_NE(index->plain.find("/ui/vendor/htm@"), std::string_view::npos);
}

TEST(StaticFiles, VersionedVendorFilesAreCachedForAYear) {
    bool found = false;
    for (const StaticFile& f : embedded_files()) {
        if (!f.path.starts_with("/ui/vendor/")) continue;
        found = true;
        EXPECT_NE(f.cache_control.find("max-age=31536000"), std::string_view::npos) << f.path;
        EXPECT_NE(f.path.find('@'), std::string_view::npos) << f.path << " has no version";
    }
    EXPECT_TRUE(found);
}

TEST(StaticFiles, GzipOnlyWhenAccepted) {
    const StaticFile* index = find_static_file("/");
    ASSERT_NE(index, nullptr);
    auto gz = serve_static(get("/", {{"Accept-Encoding", "br, gzip;q=0.8"}}));
    EXPECT_EQ(gz.status, 200u);
    EXPECT_EQ(header(gz, "Content-Encoding"), "gzip");
    EXPECT_EQ(gz.body, index->gzip);
    EXPECT_EQ(header(gz, "ETag"), index->etag);

    auto plain = serve_static(get("/"));
    EXPECT_EQ(header(plain, "Content-Encoding"), "");
    EXPECT_EQ(plain.body, index->plain);

    auto refused = serve_static(get("/", {{"Accept-Encoding", "gzip;q=0, identity"}}));
    EXPECT_EQ(header(refused, "Content-Encoding"), "");
}

TEST(StaticFiles, MatchingETagGets304WithoutBody) {
    const StaticFile* index = find_static_file("/");
    ASSERT_NE(index, nullptr);
    auto r = serve_static(get("/", {{"If-None-Match", index->etag}}));
    EXPECT_EQ(r.status, 304u);
    EXPECT_TRUE(r.body.empty());
    EXPECT_EQ(serve_static(get("/", {{"If-None-Match", "\"other\""}})).status, 200u);
}

TEST(StaticFiles, UnknownPathIs404AndConsolePathsAreOpen) {
    EXPECT_EQ(serve_static(get("/ui/nope.js")).status, 404u);
    EXPECT_TRUE(is_console_path("/"));
    EXPECT_TRUE(is_console_path("/ui/app/main.js"));
    EXPECT_FALSE(is_console_path("/api/v1/devices"));
    EXPECT_FALSE(is_console_path("/metrics"));
}

TEST(QueryParam, DecodesTheFirstMatchingParameter) {
    EXPECT_EQ(query_param("filter=ib%2Fdata%2F%23&x=1", "filter"), "ib/data/#");
    EXPECT_EQ(query_param("a=1&filter=a+b", "filter"), "a b");
    EXPECT_EQ(query_param("filter", "filter"), "");
    EXPECT_EQ(query_param("other=1", "filter"), std::nullopt);
}

}  // namespace
}  // namespace ib::api
