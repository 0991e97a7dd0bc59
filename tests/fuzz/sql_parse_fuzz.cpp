// libFuzzer target for the rule dialect: any text is compiled as a rule; one that
// compiles is fed a few fixed messages, time, and a flush, so the evaluator and
// the windows run on whatever the parser accepted. Nothing may crash or leak, and
// a refusal must name a position inside the text.
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "rules/parser.hpp"
#include "rules/rule.hpp"

namespace {

constexpr std::string_view kPayloads[] = {
    R"({"ts":1000,"values":{"t":21.5,"p":8},"a":{"b":[1,"x",null]},"s":"hello"})",
    R"({"ts":2000,"values":{"t":"hot"},"s":""})",
    R"([1,2,3])",
    "not json",
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view sql(reinterpret_cast<const char*>(data), size);
    auto parsed = ib::rules::parse_query(sql);
    if (!parsed && parsed.error().pos > sql.size()) {
        std::fprintf(stderr, "error position %u past the end (%zu)\n", parsed.error().pos, sql.size());
        std::abort();
    }
    auto rule = ib::rules::Rule::compile(sql);
    if (!rule) return 0;
    size_t rows = 0;
    (*rule)->on_emit([&rows](const ib::rules::OutputRow& r) { rows += r.json.size() > 0; });
    int64_t now = 0;
    for (int round = 0; round < 3; ++round) {
        for (std::string_view p : kPayloads) {
            now += 700;
            (*rule)->on_message("ib/data/plc1/fast", std::as_bytes(std::span(p.data(), p.size())), now);
        }
        (*rule)->on_time(now);
    }
    (*rule)->flush();
    return 0;
}
