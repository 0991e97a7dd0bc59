#include "mqtt/broker/topic_match.hpp"

#include <algorithm>

namespace ib::mqtt::broker {

namespace {

bool starts_with_wildcard(std::string_view filter) {
    return !filter.empty() && (filter.front() == '+' || filter.front() == '#');
}

}  // namespace

bool topic_matches(std::string_view filter, std::string_view topic) {
    // [MQTT-4.7.2-1] The Server MUST NOT match Topic Filters starting with a
    // wildcard character (# or +) with Topic Names beginning with a $ character.
    if (!topic.empty() && topic.front() == '$' && starts_with_wildcard(filter)) return false;

    LevelCursor f(filter);
    LevelCursor t(topic);
    while (!f.done()) {
        const std::string_view level = f.next();
        // '#' is the last level [MQTT-4.7.1-1] and matches whatever is left of the
        // topic, including nothing: "sport/#" matches "sport" (§4.7.1.2).
        if (level == kMultiLevelWildcard) return true;
        if (t.done()) return false;
        const std::string_view topic_level = t.next();
        if (level != kSingleLevelWildcard && level != topic_level) return false;
    }
    return t.done();
}

bool filter_wildcards_valid(std::string_view filter) {
    // [MQTT-4.7.3-1] All Topic Names and Topic Filters MUST be at least one character long.
    if (filter.empty()) return false;
    LevelCursor cur(filter);
    while (!cur.done()) {
        const std::string_view level = cur.next();
        if (level == kMultiLevelWildcard) {
            // [MQTT-4.7.1-1] '#' on its own or after a separator, and the last character.
            if (!cur.done()) return false;
            continue;
        }
        if (level == kSingleLevelWildcard) continue;
        // [MQTT-4.7.1-2] '+' MUST occupy an entire level of the filter; a '#' that
        // shares its level with other characters breaks [MQTT-4.7.1-1].
        if (level.find_first_of("+#") != std::string_view::npos) return false;
    }
    return true;
}

SharedFilterResult parse_shared(std::string_view filter) {
    // [MQTT-4.8.2-1] A Shared Subscription's Topic Filter MUST start with "$share/".
    // Anything else, "$share" alone or "$shared/x" included, is an ordinary filter.
    if (!filter.starts_with(kSharePrefix)) return std::optional<SharedFilter>{};
    const std::string_view rest = filter.substr(kSharePrefix.size());
    const std::size_t slash = rest.find(kLevelSeparator);
    // [MQTT-4.8.2-2] The ShareName MUST be followed by a "/" and a Topic Filter.
    if (slash == std::string_view::npos) {
        return std::unexpected("shared subscription has no '/' and Topic Filter after the ShareName");
    }
    const std::string_view group = rest.substr(0, slash);
    // [MQTT-4.8.2-1] ... and MUST contain a ShareName that is at least one character long.
    if (group.empty()) return std::unexpected("shared subscription has an empty ShareName");
    // [MQTT-4.8.2-2] The ShareName MUST NOT contain "/", "+" or "#". A '/' cannot be in
    // it: the first '/' ends it.
    if (group.find_first_of("+#") != std::string_view::npos) {
        return std::unexpected("shared subscription ShareName contains '+' or '#'");
    }
    const std::string_view inner = rest.substr(slash + 1);
    // [MQTT-4.8.2-2] and [MQTT-4.7.3-1]: the Topic Filter after the "/" is not empty.
    if (inner.empty()) return std::unexpected("shared subscription has an empty Topic Filter");
    return std::optional<SharedFilter>{SharedFilter{group, inner}};
}

std::size_t topic_depth(std::string_view topic_or_filter) {
    return static_cast<std::size_t>(std::ranges::count(topic_or_filter, kLevelSeparator)) + 1;
}

}  // namespace ib::mqtt::broker
