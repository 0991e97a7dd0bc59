// A topic made from another topic: "factory1/${topic}" or "ib/write/${3}", where
// ${topic} is the whole source topic and ${N} its N-th level (1-based). Parsed
// once from the configuration; expanding one allocates nothing once the output
// string has grown to its working size.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <vector>

namespace ib::bridge {

class TopicTemplate {
public:
    // Errors say what is wrong: "${x}: a placeholder is ${topic} or a level number ${1}..${64}".
    static std::expected<TopicTemplate, std::string> parse(std::string_view text);

    // Writes the topic for `source` into `out` (cleared first). False when the
    // template names a level that `source` does not have.
    bool expand(std::string_view source, std::string& out) const;

    const std::string& text() const { return text_; }

private:
    struct Part {
        std::string literal;  // used when level == 0 and !whole
        bool whole = false;   // ${topic}
        uint16_t level = 0;   // ${N}
    };
    std::string text_;
    std::vector<Part> parts_;
};

}  // namespace ib::bridge
