#include "bridge/topic_template.hpp"

#include <charconv>

namespace ib::bridge {

namespace {
constexpr uint16_t kMaxLevel = 64;

// The `n`-th level of `topic` (1-based), or false when it has fewer levels.
bool level_of(std::string_view topic, uint16_t n, std::string_view& out) {
    std::size_t start = 0;
    for (uint16_t i = 1;; ++i) {
        std::size_t slash = topic.find('/', start);
        std::size_t end = slash == std::string_view::npos ? topic.size() : slash;
        if (i == n) {
            out = topic.substr(start, end - start);
            return true;
        }
        if (slash == std::string_view::npos) return false;
        start = slash + 1;
    }
}
}  // namespace

std::expected<TopicTemplate, std::string> TopicTemplate::parse(std::string_view text) {
    TopicTemplate t;
    t.text_ = std::string(text);
    if (text.empty()) return std::unexpected(std::string("must not be empty"));
    std::size_t i = 0;
    std::string literal;
    while (i < text.size()) {
        if (text.compare(i, 2, "${") != 0) {
            literal += text[i++];
            continue;
        }
        std::size_t close = text.find('}', i + 2);
        if (close == std::string_view::npos) {
            return std::unexpected("'" + std::string(text.substr(i)) + "': a placeholder is not closed with '}'");
        }
        std::string_view name = text.substr(i + 2, close - i - 2);
        Part p;
        if (name == "topic") {
            p.whole = true;
        } else {
            unsigned n = 0;
            auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), n);
            if (ec != std::errc{} || end != name.data() + name.size() || n < 1 || n > kMaxLevel) {
                return std::unexpected("${" + std::string(name) +
                                       "}: a placeholder is ${topic} or a level number ${1}..${64}");
            }
            p.level = static_cast<uint16_t>(n);
        }
        if (!literal.empty()) t.parts_.push_back(Part{std::move(literal), false, 0});
        literal.clear();
        t.parts_.push_back(std::move(p));
        i = close + 1;
    }
    if (!literal.empty()) t.parts_.push_back(Part{std::move(literal), false, 0});
    if (t.text_.find_first_of("+#") != std::string::npos) {
        return std::unexpected(std::string("a topic template cannot hold the wildcards '+' or '#'"));
    }
    return t;
}

bool TopicTemplate::expand(std::string_view source, std::string& out) const {
    out.clear();
    for (const Part& p : parts_) {
        if (p.whole) {
            out += source;
        } else if (p.level != 0) {
            std::string_view level;
            if (!level_of(source, p.level, level)) return false;
            out += level;
        } else {
            out += p.literal;
        }
    }
    return true;
}

}  // namespace ib::bridge
