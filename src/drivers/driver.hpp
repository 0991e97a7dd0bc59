// The interface every southbound driver implements: read a group's tags (or push
// them as the device reports changes), write tags, and report the connection
// state. A driver runs on the event loop it is given and never blocks it; the
// device layer (device.hpp) owns scheduling, scaling, change detection and
// publishing, the same for every protocol.
#pragma once

#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "drivers/device_config.hpp"
#include "drivers/value.hpp"

namespace boost::asio {
class io_context;
}

namespace ib::drivers {

enum class LinkState : uint8_t { Connecting, Connected, Reconnecting, Stopped };

std::string_view link_state_name(LinkState state);  // "connecting", "connected", ...

// One tag's outcome of a read: a raw (unscaled) value or an error (or, cleared,
// neither: no news). 80 bytes.
struct TagReading {
    bool ok = false;
    uint16_t error_code = 0;
    Value value;
    // One text, as a reading has a value or an error, never both: when failed,
    // the error's message; when ok, empty for a good value, otherwise the
    // device's word for a value it vouches for less (OPC UA:
    // "UncertainLastUsableValue"), published beside it.
    std::string text;

    std::string_view quality() const { return ok ? std::string_view(text) : std::string_view(); }
    std::string_view error_message() const { return ok ? std::string_view() : std::string_view(text); }

    void set(Value v) {
        ok = true;
        value = std::move(v);
        text.clear();
    }
    // After set(): the value is not Good.
    void set_quality(std::string word) { text = std::move(word); }
    void fail(uint16_t code, std::string message) {
        ok = false;
        error_code = code;
        text = std::move(message);
    }
    void clear() {
        ok = false;
        error_code = 0;
        text.clear();
    }
    bool has_news() const { return ok || error_code != 0; }
};

// What a pushing driver sends of one tag (DriverEvents::on_readings): the tag's
// index in its group and its reading, set or failed. Only the tags that changed
// have one, so a subscribing driver keeps news, not a reading per item.
struct TagNews {
    uint32_t tag = 0;
    TagReading reading;
};

struct WriteItem {
    uint32_t group = 0;
    uint32_t tag = 0;
    Value raw;  // already unscaled and converted to the tag's type by the device layer
};

// Counters a driver keeps for /metrics; read from the device's loop only.
struct DriverStats {
    uint64_t requests = 0;
    uint64_t timeouts = 0;
    uint64_t exceptions = 0;
    uint64_t bad_replies = 0;
    uint64_t reconnects = 0;
    uint64_t round_trips = 0;
    double round_trip_seconds_sum = 0;
    uint64_t notifications = 0;  // values a subscribing driver was sent
    uint64_t republishes = 0;    // notifications asked for again after a gap
    uint64_t transfers = 0;      // subscriptions a new session took over from a lost one
    uint64_t renewals = 0;       // secure channel tokens renewed
};

class DriverEvents {
public:
    virtual ~DriverEvents() = default;
    // `error` says why when the state is Reconnecting; empty otherwise.
    virtual void on_link_state(LinkState state, std::string_view error) = 0;
    // A group the driver pushes (Driver::pushes) has news: one entry per tag
    // that has some, each tag at most once, in any order (the device publishes
    // them in config order, like a poll's reading). The device may reorder the
    // entries and move from them; the driver drops them on return.
    virtual void on_readings(uint32_t group, std::span<TagNews> news) = 0;
};

// What Driver::browse finds: the children of a node as a JSON array, or why not.
using BrowseOutcome = std::expected<std::string, TagError>;

class Driver {
public:
    using ReadDone = std::function<void()>;
    using WriteDone = std::function<void(std::vector<std::optional<TagError>>)>;

    virtual ~Driver() = default;
    virtual void start() = 0;
    // Cancels pending work; callbacks of cancelled reads and writes still run, with
    // TagErrc::Cancelled, before stop() returns or soon after on the loop.
    virtual void stop() = 0;
    // Fills `out` (one entry per tag of the group, in config order; write-only tags
    // are left untouched) and then calls `done`. One read per group at a time.
    virtual void read(uint32_t group, std::span<TagReading> out, ReadDone done) = 0;
    // Writes in order; one result per item (nullopt = written).
    virtual void write(std::vector<WriteItem> items, WriteDone done) = 0;
    virtual const DriverStats& stats() const = 0;
    // True when the driver sends the group's readings itself, as the device
    // changes (subscriptions): the device layer then does not poll it.
    virtual bool pushes(uint32_t /*group*/) const { return false; }
    // The children of `node` (a driver-specific address), for picking tags.
    virtual void browse(std::string node, std::function<void(BrowseOutcome)> done) {
        (void)node;
        done(std::unexpected(TagError{static_cast<uint16_t>(TagErrc::BadValue), "this driver cannot browse"}));
    }
};

// Makes the driver for `config.driver` (the app knows every driver; this module
// knows none). `config` and `events` outlive the driver.
using DriverFactory =
    std::function<std::unique_ptr<Driver>(boost::asio::io_context& io, const DeviceConfig& config, DriverEvents& events)>;

}  // namespace ib::drivers
