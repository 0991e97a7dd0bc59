#include "drivers/device.hpp"

#include <utility>  // before Asio: Boost 1.74 coroutine headers need it

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_map>

#include "core/bus.hpp"
#include "core/clock.hpp"
#include "core/json_writer.hpp"
#include "core/quote.hpp"
#include "core/log.hpp"
#include "mqtt/broker/router.hpp"

namespace ib::drivers {
namespace {

using Clock = std::chrono::steady_clock;

std::optional<double> as_number(const Value& v) {
    if (const auto* i = std::get_if<int64_t>(&v)) return static_cast<double>(*i);
    if (const auto* u = std::get_if<uint64_t>(&v)) return static_cast<double>(*u);
    if (const auto* d = std::get_if<double>(&v)) return *d;
    return std::nullopt;
}

Value scaled(const TagConfig& tag, Value raw) {
    if (!tag.scaled()) return raw;
    if (auto x = as_number(raw)) return *x * tag.scale + tag.offset;
    return raw;
}

bool changed(const Value& before, const Value& now, double deadband) {
    auto a = as_number(before);
    auto b = as_number(now);
    if (a && b) return deadband > 0 ? std::fabs(*a - *b) > deadband : *a != *b;
    return before != now;
}

bool is_integer_type(DataType t) {
    switch (t) {
        case DataType::Int8: case DataType::Uint8: case DataType::Int16: case DataType::Uint16:
        case DataType::Int32: case DataType::Uint32: case DataType::Int64: case DataType::Uint64:
            return true;
        default:
            return false;
    }
}

// The engineering value a client wrote, turned back into the device's raw value.
// A scaled integer tag rounds to the nearest raw step: 21.55 at scale 0.1 is 216.
std::expected<Value, TagError> unscale(const TagConfig& tag, const Value& v) {
    if (!tag.scaled()) return v;
    auto x = as_number(v);
    if (!x) {
        return std::unexpected(TagError{static_cast<uint16_t>(TagErrc::BadValue),
                                        "tag '" + std::string(tag.name()) + "' is scaled: write a number"});
    }
    double raw = (*x - tag.offset) / tag.scale;
    if (is_integer_type(tag.type)) {
        raw = std::round(raw);
        if (raw >= -9.2e18 && raw <= 9.2e18) return static_cast<int64_t>(raw);
    }
    return raw;
}

void write_error(JsonWriter& w, uint16_t code, std::string_view message) {
    w.begin_object().field("code", code).field("error", message).end_object();
}

}  // namespace

std::string_view link_state_name(LinkState state) {
    switch (state) {
        case LinkState::Connecting: return "connecting";
        case LinkState::Connected: return "connected";
        case LinkState::Reconnecting: return "reconnecting";
        case LinkState::Stopped: return "stopped";
    }
    return "?";
}

// A tag's last outcome, for the REST API: its scaled value, or the code of its
// error (the message is kept aside, in Group::error_messages): 48 bytes
// against a TagReading's 80, and a group holds one per tag as long as it runs.
struct LatestValue {
    Value value;
    uint16_t error_code = 0;
    bool ok = false;
};

// The readings of one poll (every tag of the group: a dense span) or of one
// push (only the tags with news, sorted by tag), walked the same way in config
// order, so both publish the same JSON.
class ReadingsInOrder {
public:
    explicit ReadingsInOrder(std::span<TagReading> every) : every_(every) {}
    explicit ReadingsInOrder(std::span<TagNews> news) : news_(news), sparse_(true) {}

    size_t size() const { return sparse_ ? news_.size() : every_.size(); }
    uint32_t tag(size_t k) const { return sparse_ ? news_[k].tag : static_cast<uint32_t>(k); }
    TagReading& operator[](size_t k) const { return sparse_ ? news_[k].reading : every_[k]; }

private:
    std::span<TagReading> every_;
    std::span<TagNews> news_;
    bool sparse_ = false;
};

struct Device::Group {
    Group(boost::asio::io_context& io, uint32_t i, const GroupConfig& c) : index(i), config(c), timer(io) {}

    uint32_t index;
    const GroupConfig& config;
    boost::asio::steady_timer timer;
    std::string topic;
    // Filled by the driver's read; empty for a group the driver pushes, whose
    // readings are the driver's own (on_readings).
    std::vector<TagReading> readings;
    std::vector<LatestValue> latest;  // scaled
    std::unordered_map<uint32_t, std::string> error_messages;  // of the tags whose latest is an error
    // Last value published, per tag, for on_change; empty when no tag of the
    // group is on_change.
    std::vector<std::optional<Value>> reported;
    bool has_readable = false;
    bool busy = false;
    Clock::time_point next;
    Clock::time_point started;
    int64_t ts = 0;
    double last_duration_s = 0;
};

Device::Device(boost::asio::io_context& io, DeviceConfig config, const DriverFactory& factory,
               mqtt::broker::Router& router, const BusTopics& bus)
    : io_(io), config_(std::move(config)), router_(router), status_topic_(bus.status(config_.name)) {
    // Kept as long as the device runs: its tags' texts in one buffer.
    pack_tag_texts(config_);
    driver_ = factory(io_, config_, *this);
    for (uint32_t g = 0; g < config_.groups.size(); ++g) {
        auto group = std::make_unique<Group>(io_, g, config_.groups[g]);
        group->topic = bus.data(config_.name, group->config.name);
        size_t n = group->config.tags.size();
        if (!driver_->pushes(g)) group->readings.resize(n);
        group->latest.resize(n);
        bool on_change = false;
        for (const TagConfig& t : group->config.tags) {
            group->has_readable |= readable(t.access);
            on_change |= t.on_change;
        }
        if (on_change) group->reported.resize(n);
        groups_.push_back(std::move(group));
    }
}

Device::~Device() {
    *alive_ = false;
    if (running_) stop();
}

void Device::start() {
    if (running_) return;
    running_ = true;
    state_ = LinkState::Connecting;
    publish_status();
    driver_->start();
    auto now = Clock::now();
    for (auto& g : groups_) {
        if (!g->has_readable || driver_->pushes(g->index)) continue;
        g->next = now;
        schedule(*g);
    }
}

void Device::stop() {
    if (!running_) return;
    running_ = false;
    for (auto& g : groups_) g->timer.cancel();
    driver_->stop();
    state_ = LinkState::Stopped;
    last_error_.clear();
    publish_status();
}

void Device::schedule(Group& group) {
    group.timer.expires_at(group.next);
    group.timer.async_wait([this, &group, alive = alive_](const boost::system::error_code& ec) {
        if (ec || !*alive || !running_) return;
        poll(group);
    });
}

void Device::poll(Group& group) {
    // Next deadline on the grid of the interval, so polls do not drift; a group
    // that fell behind (a slow device) skips the slots it missed.
    auto now = Clock::now();
    group.next += group.config.interval;
    if (group.next <= now) {
        auto behind = (now - group.next) / group.config.interval + 1;
        group.next += group.config.interval * behind;
    }
    schedule(group);
    if (group.busy) {
        ++overruns_;
        return;
    }
    group.busy = true;
    group.started = now;
    driver_->read(group.index, group.readings, [this, &group, alive = alive_] {
        if (!*alive) return;
        group.busy = false;
        if (running_) on_read(group, ReadingsInOrder(std::span<TagReading>(group.readings)));
    });
}

void Device::on_read(Group& group, const ReadingsInOrder& readings) {
    ++polls_;
    group.last_duration_s = std::chrono::duration<double>(Clock::now() - group.started).count();
    group.ts = unix_ms();
    std::string& out = payload_;
    out.clear();
    JsonWriter w(out);
    w.begin_object().field("device", config_.name).field("group", group.config.name).field("ts", group.ts);
    w.key("values").begin_object();
    size_t values = 0;
    size_t errors = 0;
    size_t uncertain = 0;
    const auto& tags = group.config.tags;
    for (size_t k = 0; k < readings.size(); ++k) {
        const uint32_t i = readings.tag(k);
        if (!readable(tags[i].access)) continue;
        TagReading& r = readings[k];
        if (!r.ok) continue;
        LatestValue& latest = group.latest[i];
        latest.value = scaled(tags[i], std::move(r.value));
        latest.ok = true;
        if (latest.error_code != 0) {
            latest.error_code = 0;
            group.error_messages.erase(static_cast<uint32_t>(i));
        }
        const Value& v = latest.value;
        if (tags[i].on_change) {
            auto& reported = group.reported[i];
            if (reported && !changed(*reported, v, tags[i].deadband) && r.quality().empty()) continue;
            reported = v;
        }
        ++values;
        const DataType type = tags[i].scaled() ? DataType::Float64 : tags[i].type;
        w.key(tags[i].name()).appended([&](std::string& o) { append_json(o, v, type); });
        if (!r.quality().empty()) ++uncertain;
    }
    w.end_object();
    if (uncertain != 0) {
        // Values the device vouches for less keep their place in `values`; the
        // word for how much less goes beside them.
        w.key("quality").begin_object();
        for (size_t k = 0; k < readings.size(); ++k) {
            const uint32_t i = readings.tag(k);
            const TagReading& r = readings[k];
            if (readable(tags[i].access) && !r.quality().empty()) w.field(tags[i].name(), r.quality());
        }
        w.end_object();
    }
    for (size_t k = 0; k < readings.size(); ++k) {
        const uint32_t i = readings.tag(k);
        const TagReading& r = readings[k];
        if (!readable(tags[i].access) || !r.has_news() || r.ok) continue;
        group.latest[i].ok = false;
        group.latest[i].error_code = r.error_code;
        group.error_messages[static_cast<uint32_t>(i)] = r.text;
        // A tag that comes back after an error is reported even if unchanged.
        if (tags[i].on_change) group.reported[i].reset();
        ++tag_errors_;
        if (errors++ == 0) w.key("errors").begin_object();
        w.key(tags[i].name());
        write_error(w, r.error_code, r.error_message());
    }
    if (errors) w.end_object();
    w.end_object();
    if (values == 0 && errors == 0) return;  // on-change tags, none changed
    auto r = router_.publish(group.topic, ib::as_bytes(std::string_view(out)));
    if (!r) {
        IB_LOG_LIMITED_WARN("device {}: cannot publish on {}: {}", config_.name, group.topic, r.error());
        return;
    }
    ++published_;
}

void Device::on_link_state(LinkState state, std::string_view error) {
    if (state == state_ && error == last_error_) return;
    if (state == LinkState::Reconnecting && state_ != LinkState::Reconnecting) {
        log::warn("device {}: {}", config_.name, error);
    } else if (state == LinkState::Connected && state_ != LinkState::Connected) {
        log::info("device {}: connected", config_.name);
    }
    state_ = state;
    last_error_ = error;
    if (running_) publish_status();
}

void Device::on_readings(uint32_t index, std::span<TagNews> news) {
    if (!running_ || index >= groups_.size()) return;
    Group& group = *groups_[index];
    // Published in config order, like a poll; a driver usually sends them so.
    if (!std::ranges::is_sorted(news, {}, &TagNews::tag)) std::ranges::sort(news, {}, &TagNews::tag);
    // A tag the group does not have (a broken DriverEvents contract) is left out.
    while (!news.empty() && news.back().tag >= group.config.tags.size()) news = news.first(news.size() - 1);
    group.started = Clock::now();
    on_read(group, ReadingsInOrder(news));
}

void Device::browse(std::string node, std::function<void(BrowseOutcome)> done) {
    if (!running_) {
        return done(std::unexpected(TagError{static_cast<uint16_t>(TagErrc::Disconnected),
                                             "device '" + config_.name + "' is stopped"}));
    }
    driver_->browse(std::move(node), std::move(done));
}

void Device::publish_status() {
    std::string out;
    JsonWriter w(out);
    w.begin_object().field("device", config_.name).field("state", link_state_name(state_));
    if (!last_error_.empty()) w.field("error", last_error_);
    w.field("ts", unix_ms()).end_object();
    auto publish = [&router = router_, &topic = status_topic_, out = std::move(out), name = config_.name] {
        mqtt::broker::PublishOptions options;
        options.retain = true;
        options.qos = 1;
        auto r = router.publish(topic, ib::as_bytes(std::string_view(out)), options);
        if (!r) IB_LOG_LIMITED_WARN("device {}: cannot publish its status: {}", name, r.error());
    };
    // At set-up (before the loops run) the status is published from the
    // device's own loop, like every later one: published from here it would be
    // routed elsewhere, and could land after them and stay as a stale retained status.
    if (!io_.get_executor().running_in_this_thread()) return boost::asio::post(io_, std::move(publish));
    publish();
}

std::string Device::values_json() const {
    std::string out;
    JsonWriter w(out);
    w.begin_object().field("device", config_.name).field("state", link_state_name(state_));
    w.key("groups").begin_object();
    for (const auto& g : groups_) {
        const Group& group = *g;
        w.key(group.config.name).begin_object().field("ts", group.ts).key("values").begin_object();
        for (size_t i = 0; i < group.latest.size(); ++i) {
            const LatestValue& r = group.latest[i];
            if (!r.ok) continue;
            const TagConfig& tag = group.config.tags[i];
            const DataType type = tag.scaled() ? DataType::Float64 : tag.type;
            w.key(tag.name()).appended([&](std::string& o) { append_json(o, r.value, type); });
        }
        w.end_object().key("errors").begin_object();
        for (size_t i = 0; i < group.latest.size(); ++i) {
            const LatestValue& r = group.latest[i];
            if (r.ok || r.error_code == 0) continue;
            w.key(group.config.tags[i].name());
            auto message = group.error_messages.find(static_cast<uint32_t>(i));
            write_error(w, r.error_code, message == group.error_messages.end() ? std::string_view() : message->second);
        }
        w.end_object().end_object();
    }
    w.end_object().end_object();
    return out;
}

void Device::write(WriteRequest request, std::function<void(WriteResults)> done) {
    WriteResults results;
    std::vector<WriteItem> items;
    std::vector<size_t> slot;  // results index of each item
    for (auto& [name, value] : request.values) {
        results.emplace_back(name, std::nullopt);
        std::optional<TagError>& result = results.back().second;
        const TagConfig* tag = nullptr;
        WriteItem item;
        for (uint32_t g = 0; g < config_.groups.size() && tag == nullptr; ++g) {
            for (uint32_t t = 0; t < config_.groups[g].tags.size(); ++t) {
                if (config_.groups[g].tags[t].name() == name) {
                    tag = &config_.groups[g].tags[t];
                    item.group = g;
                    item.tag = t;
                    break;
                }
            }
        }
        if (tag == nullptr) {
            result = TagError{static_cast<uint16_t>(TagErrc::UnknownTag),
                              "device '" + config_.name + "' has no tag '" + name + "'"};
            continue;
        }
        if (!writable(tag->access)) {
            result = TagError{static_cast<uint16_t>(TagErrc::NotWritable),
                              "tag '" + name + "' is read-only (access = \"read\")"};
            continue;
        }
        auto raw = unscale(*tag, value);
        if (!raw) {
            result = raw.error();
            continue;
        }
        item.raw = std::move(*raw);
        items.push_back(std::move(item));
        slot.push_back(results.size() - 1);
    }
    writes_ += results.size();
    if (items.empty() || !running_) {
        for (size_t k = 0; k < slot.size(); ++k) {
            results[slot[k]].second = TagError{static_cast<uint16_t>(TagErrc::Disconnected),
                                               "device '" + config_.name + "' is stopped"};
        }
        for (auto& r : results) write_errors_ += r.second ? 1 : 0;
        return done(std::move(results));
    }
    driver_->write(std::move(items), [this, alive = alive_, results = std::move(results), slot = std::move(slot),
                                      done = std::move(done)](std::vector<std::optional<TagError>> outcome) mutable {
        for (size_t k = 0; k < slot.size() && k < outcome.size(); ++k) results[slot[k]].second = std::move(outcome[k]);
        if (*alive) {
            for (auto& r : results) write_errors_ += r.second ? 1 : 0;
        }
        done(std::move(results));
    });
}

void Device::collect_metrics(MetricSink& sink) const {
    std::string labels = "device=" + ib::quoted(config_.name);
    auto add = [&](const char* name, const char* help, MetricType type, double v, std::string l) {
        sink.push_back({name, help, type, std::move(l), v});
    };
    add("ib_device_polls_total", "Group reads completed.", MetricType::Counter, static_cast<double>(polls_), labels);
    add("ib_device_poll_overruns_total", "Polls skipped because the previous read of the group was still running.",
        MetricType::Counter, static_cast<double>(overruns_), labels);
    add("ib_device_tag_errors_total", "Tag readings that failed.", MetricType::Counter,
        static_cast<double>(tag_errors_), labels);
    add("ib_device_writes_total", "Tag writes requested.", MetricType::Counter, static_cast<double>(writes_), labels);
    add("ib_device_write_errors_total", "Tag writes that failed.", MetricType::Counter,
        static_cast<double>(write_errors_), labels);
    add("ib_device_connected", "1 while the device's link is up.", MetricType::Gauge,
        state_ == LinkState::Connected ? 1 : 0, labels);
    size_t tags = 0;
    for (const auto& g : config_.groups) tags += g.tags.size();
    add("ib_device_tags", "Tags configured.", MetricType::Gauge, static_cast<double>(tags), labels);
    for (const auto& g : groups_) {
        add("ib_device_last_poll_seconds", "Duration of the group's last read.", MetricType::Gauge,
            g->last_duration_s, labels + ",group=" + ib::quoted(g->config.name));
    }
    const DriverStats& s = driver_->stats();
    add("ib_device_requests_total", "Requests sent to the device.", MetricType::Counter,
        static_cast<double>(s.requests), labels);
    add("ib_device_errors_total", "Failed requests, by kind.", MetricType::Counter, static_cast<double>(s.timeouts),
        labels + ",kind=\"timeout\"");
    add("ib_device_errors_total", "Failed requests, by kind.", MetricType::Counter, static_cast<double>(s.exceptions),
        labels + ",kind=\"exception\"");
    add("ib_device_errors_total", "Failed requests, by kind.", MetricType::Counter, static_cast<double>(s.bad_replies),
        labels + ",kind=\"bad_reply\"");
    add("ib_device_reconnects_total", "Connections lost or refused.", MetricType::Counter,
        static_cast<double>(s.reconnects), labels);
    add("ib_device_round_trip_seconds_sum", "Request round-trip time, summed.", MetricType::Counter,
        s.round_trip_seconds_sum, labels);
    add("ib_device_round_trip_seconds_count", "Requests with a measured round trip.", MetricType::Counter,
        static_cast<double>(s.round_trips), labels);
    if (config_.driver == DriverKind::OpcUa) {
        add("ib_device_notifications_total", "Values received through subscriptions.", MetricType::Counter,
            static_cast<double>(s.notifications), labels);
        add("ib_device_republishes_total", "Notifications asked for again after a gap.", MetricType::Counter,
            static_cast<double>(s.republishes), labels);
        add("ib_device_subscription_transfers_total", "Subscriptions a new session took over (TransferSubscriptions).",
            MetricType::Counter, static_cast<double>(s.transfers), labels);
        add("ib_device_channel_renewals_total", "Secure channel tokens renewed.", MetricType::Counter,
            static_cast<double>(s.renewals), labels);
    }
}

}  // namespace ib::drivers
