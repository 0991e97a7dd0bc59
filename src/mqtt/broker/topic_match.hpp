// Topic names and topic filters as MQTT 5.0 §4.7 and §4.8.2 define them: walking
// them level by level, matching one filter against one topic, and taking
// "$share/{ShareName}/{filter}" apart. Everything works on string_view over the
// caller's bytes and allocates nothing. It does not check UTF-8, U+0000 or length
// (the codec does that) and it keeps no state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <expected>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace ib::mqtt::broker {

inline constexpr char kLevelSeparator = '/';
inline constexpr std::string_view kSingleLevelWildcard = "+";
inline constexpr std::string_view kMultiLevelWildcard = "#";
inline constexpr std::string_view kSharePrefix = "$share/";

// Yields the levels of a topic name or filter one at a time. Every '/' separates
// two levels, so "" has one empty level, "/a" has "" and "a", and "a/" has "a"
// and "" (§4.7.1.1: empty levels are real levels). A cursor is two words and is
// copied freely: the topic tree passes one by value down each branch.
class LevelCursor {
public:
    constexpr explicit LevelCursor(std::string_view s) : rest_(s) {}

    // True once the last level has been returned by next().
    constexpr bool done() const { return done_; }

    // The next level; call only while !done().
    constexpr std::string_view next() {
        const std::size_t slash = rest_.find(kLevelSeparator);
        std::string_view level;
        if (slash == std::string_view::npos) {
            level = rest_;
            rest_ = {};
            done_ = true;
        } else {
            level = rest_.substr(0, slash);
            rest_.remove_prefix(slash + 1);
        }
        return level;
    }

private:
    std::string_view rest_;
    bool done_ = false;
};

// Whether `topic` (a Topic Name, no wildcards) matches `filter` (a plain Topic
// Filter: take a shared filter apart with parse_shared() first). Follows
// §4.7: '+' matches exactly one level, including an empty one; '#' matches the
// parent level and any number of children, so "sport/#" matches "sport"; a filter
// starting with a wildcard never matches a topic starting with '$' [MQTT-4.7.2-1].
// The filter is expected to be well formed (filter_wildcards_valid()); for one
// that is not, the answer is unspecified but the call is still safe.
bool topic_matches(std::string_view filter, std::string_view topic);

// Whether the wildcards of a plain Topic Filter sit where §4.7.1 allows them and
// the filter is not empty [MQTT-4.7.3-1]: '#' alone in the last level
// [MQTT-4.7.1-1], '+' alone in its level [MQTT-4.7.1-2]. Does not look at UTF-8.
bool filter_wildcards_valid(std::string_view filter);

// A shared subscription's filter taken apart (§4.8.2). Both views point into the
// string given to parse_shared().
struct SharedFilter {
    std::string_view group;   // the ShareName
    std::string_view filter;  // the Topic Filter that follows it
};

// Outcome of parse_shared():
//   has_value() && !value()  → an ordinary filter (does not start with "$share/");
//   has_value() && value()   → a shared filter, taken apart;
//   !has_value()             → starts with "$share/" but breaks §4.8.2; error() is a
//                              static message. The caller answers 0x8F (Topic Filter
//                              invalid) for it.
using SharedFilterResult = std::expected<std::optional<SharedFilter>, const char*>;

// Does not check the wildcards of the inner filter: use filter_wildcards_valid()
// on SharedFilter::filter for that.
SharedFilterResult parse_shared(std::string_view filter);

// Number of levels in a topic name or filter: one more than the number of '/'.
// The broker compares it with BrokerConfig::max_topic_depth.
std::size_t topic_depth(std::string_view topic_or_filter);

// Hash for maps keyed by one level: transparent, so a std::string-keyed map is
// searched with the string_view of a level without building a string
// (libstdc++ 12 implements heterogeneous unordered lookup, __cpp_lib_generic_unordered_lookup).
// Levels are short, and every PUBLISH hashes each of its levels: eight bytes at
// a time through a multiply and a shift, about a third of std::hash's (murmur)
// cost on "t1234" in a 1→1 QoS 0 run. Unseeded, as std::hash is.
struct LevelHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
        constexpr uint64_t kMul = 0x9E3779B97F4A7C15ULL;  // 2^64 / the golden ratio
        uint64_t h = (s.size() + 1) * kMul;
        std::size_t i = 0;
        for (; i + 8 <= s.size(); i += 8) {
            uint64_t w;
            std::memcpy(&w, s.data() + i, 8);
            h = (h ^ w) * kMul;
            h ^= h >> 32;
        }
        uint64_t tail = 0;
        std::memcpy(&tail, s.data() + i, s.size() - i);
        h = (h ^ tail) * kMul;
        return static_cast<std::size_t>(h ^ (h >> 29));
    }
};

template <class T>
using LevelMap = std::unordered_map<std::string, T, LevelHash, std::equal_to<>>;

// An unordered_map keeps its bucket array after its elements are erased; called
// after an erase so that a level which once had many children gives that back.
template <class T>
void give_back_buckets(LevelMap<T>& map) {
    if (map.empty()) {
        LevelMap<T>().swap(map);
    } else if (map.bucket_count() > 64 && map.size() * 8 < map.bucket_count()) {
        map.rehash(0);
    }
}

}  // namespace ib::mqtt::broker
