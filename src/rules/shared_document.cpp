#include "rules/shared_document.hpp"

#include <cstring>

namespace ib::rules {

bool SharedDocument::load(const mqtt::broker::Message& m) {
    if (held_.get() == &m) return true;
    if (users_ > 0) return false;
    held_ = m.ref();
    const auto payload = m.payload();
    const std::size_t n = payload.size();
    if (padded_.size() < n + simdjson::SIMDJSON_PADDING) padded_.resize(n + simdjson::SIMDJSON_PADDING);
    if (n > 0) std::memcpy(padded_.data(), payload.data(), n);
    auto doc = parser_.parse(padded_.data(), n, false);
    ++parses_;
    if (doc.error()) {
        root_ = std::unexpected(std::string(simdjson::error_message(doc.error())));
    } else {
        root_ = doc.value_unsafe();
    }
    return true;
}

}  // namespace ib::rules
