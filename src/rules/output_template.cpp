#include "rules/output_template.hpp"

namespace ib::rules {

std::expected<OutputTemplate, std::string> OutputTemplate::parse(std::string_view text) {
    OutputTemplate t;
    std::string literal;
    for (std::size_t i = 0; i < text.size();) {
        if (text.substr(i, 2) == "${") {
            std::size_t close = text.find('}', i + 2);
            if (close == std::string_view::npos) return std::unexpected("'${' without a closing '}'");
            std::string name(text.substr(i + 2, close - i - 2));
            if (name.empty()) return std::unexpected("an empty ${}");
            if (!literal.empty()) t.parts_.push_back(Part{std::move(literal), false});
            literal.clear();
            t.parts_.push_back(Part{std::move(name), true});
            i = close + 1;
        } else {
            literal.push_back(text[i++]);
        }
    }
    if (!literal.empty()) t.parts_.push_back(Part{std::move(literal), false});
    return t;
}

std::vector<std::string> OutputTemplate::columns() const {
    std::vector<std::string> out;
    for (const auto& p : parts_) {
        if (p.column) out.push_back(p.text);
    }
    return out;
}

bool OutputTemplate::render(const OutputRow& row, std::string& out, std::string& missing) const {
    out.clear();
    for (const auto& p : parts_) {
        if (!p.column) {
            out += p.text;
            continue;
        }
        const Value* v = row.find(p.text);
        if (v == nullptr) {
            missing = p.text;
            return false;
        }
        append_text(out, *v);
    }
    return true;
}

}  // namespace ib::rules
