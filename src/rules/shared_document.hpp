// One parse of a message for every rule that reads it. The router delivers a
// reading to each rule whose FROM matches it, one after the other on the
// rules' loop; without this, a hundred rules on one topic parsed every 20 KB
// reading a hundred times.
#pragma once

#include <simdjson.h>

#include <expected>
#include <string>

#include "mqtt/broker/message.hpp"

namespace ib::rules {

class SharedDocument {
public:
    // Makes `m`'s payload the current document, parsing it only if it is not
    // already. Returns false, changing nothing, while a rule still evaluates
    // the document of another message (a rule whose output reaches another
    // rule inside its own evaluation): that rule then parses by itself.
    bool load(const mqtt::broker::Message& m);

    // The parsed payload, or why it is not JSON; valid until the next load().
    const std::expected<simdjson::dom::element, std::string>& root() const { return root_; }

    // Held by a rule while it evaluates the document.
    class Use {
    public:
        explicit Use(SharedDocument* d) : d_(d) {
            if (d_) ++d_->users_;
        }
        ~Use() {
            if (d_) --d_->users_;
        }
        Use(const Use&) = delete;
        Use& operator=(const Use&) = delete;

    private:
        SharedDocument* d_;
    };

    uint64_t parses() const { return parses_; }

private:
    mqtt::broker::MessageRef held_;  // keeps the message, so its address is not reused while cached
    simdjson::dom::parser parser_;
    std::string padded_;
    std::expected<simdjson::dom::element, std::string> root_ = std::unexpected(std::string("nothing loaded"));
    int users_ = 0;
    uint64_t parses_ = 0;
};

}  // namespace ib::rules
