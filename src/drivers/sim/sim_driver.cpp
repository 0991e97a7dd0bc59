#include "drivers/sim/sim_driver.hpp"

#include <utility>  // before Asio: Boost 1.74 coroutine headers need it

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <cmath>
#include <limits>
#include <numbers>
#include <random>

#include "drivers/sim/sim_signal.hpp"

namespace ib::drivers::sim {
namespace {

bool is_integer(DataType t) {
    return t != DataType::Float32 && t != DataType::Float64 && t != DataType::Bool && t != DataType::String &&
           t != DataType::Bytes;
}

// The range a tag of type t can hold, so a signal is clamped rather than wrapped.
std::pair<double, double> limits(DataType t) {
    switch (t) {
        case DataType::Int8: return {-128, 127};
        case DataType::Uint8: return {0, 255};
        case DataType::Int16: return {-32768, 32767};
        case DataType::Uint16: return {0, 65535};
        case DataType::Int32: return {-2147483648.0, 2147483647.0};
        case DataType::Uint32: return {0, 4294967295.0};
        case DataType::Uint64: return {0, 1.8e19};
        default: return {-9.2e18, 9.2e18};
    }
}

class SimDriver final : public Driver {
public:
    SimDriver(boost::asio::io_context& io, const DeviceConfig& config, DriverEvents& events)
        : io_(io), config_(config), events_(events), rng_(std::random_device{}()) {
        for (const auto& g : config_.groups) {
            std::vector<TagState> tags;
            for (const auto& t : g.tags) {
                TagState s;
                s.signal = parse_signal(t.address()).value_or(Signal{});
                s.current = s.signal.start;
                if (t.type == DataType::String) s.memory = std::string();
                else if (t.type == DataType::Bool) s.memory = s.signal.start != 0;
                else s.memory = s.signal.start;
                tags.push_back(std::move(s));
            }
            state_.push_back(std::move(tags));
        }
    }

    void start() override {
        started_ = std::chrono::steady_clock::now();
        events_.on_link_state(LinkState::Connected, "");
    }
    void stop() override { events_.on_link_state(LinkState::Stopped, ""); }

    void read(uint32_t group, std::span<TagReading> out, ReadDone done) override {
        const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
        const auto& tags = config_.groups[group].tags;
        for (size_t i = 0; i < tags.size(); ++i) {
            if (!readable(tags[i].access)) continue;
            out[i].set(sample(state_[group][i], tags[i].type, t));
        }
        ++stats_.requests;
        boost::asio::post(io_, std::move(done));
    }

    void write(std::vector<WriteItem> items, WriteDone done) override {
        std::vector<std::optional<TagError>> results;
        for (auto& item : items) {
            TagState& s = state_[item.group][item.tag];
            const TagConfig& tag = config_.groups[item.group].tags[item.tag];
            if (s.signal.kind != SignalKind::Memory) {
                results.push_back(
                    TagError{static_cast<uint16_t>(TagErrc::NotWritable),
                             "tag '" + std::string(tag.name()) + "' follows a signal; only memory tags take writes"});
                continue;
            }
            auto v = convert(item.raw, tag.type);
            if (!v) {
                results.push_back(TagError{static_cast<uint16_t>(TagErrc::BadValue), v.error()});
                continue;
            }
            s.memory = std::move(*v);
            results.push_back(std::nullopt);
        }
        boost::asio::post(io_, [done = std::move(done), results = std::move(results)]() mutable {
            done(std::move(results));
        });
    }

    const DriverStats& stats() const override { return stats_; }

private:
    struct TagState {
        Signal signal;
        double current = 0;  // random walk and counter
        Value memory;
    };

    static std::expected<Value, std::string> convert(const Value& v, DataType type) {
        if (type == DataType::String) {
            if (const auto* s = std::get_if<std::string>(&v)) return *s;
            return std::unexpected(std::string("a string tag takes a string"));
        }
        double x = 0;
        if (const auto* b = std::get_if<bool>(&v)) x = *b ? 1 : 0;
        else if (const auto* i = std::get_if<int64_t>(&v)) x = static_cast<double>(*i);
        else if (const auto* u = std::get_if<uint64_t>(&v)) x = static_cast<double>(*u);
        else if (const auto* d = std::get_if<double>(&v)) x = *d;
        else return std::unexpected(std::string("expected a number"));
        if (type == DataType::Bool) return Value(x != 0);
        if (is_integer(type)) {
            auto [lo, hi] = limits(type);
            if (x != std::floor(x)) return std::unexpected(std::to_string(x) + " is not an integer");
            if (x < lo || x > hi) {
                return std::unexpected(std::to_string(static_cast<int64_t>(x)) + " is out of range for " +
                                       std::string(data_type_name(type)));
            }
            return Value(static_cast<int64_t>(x));
        }
        return Value(x);
    }

    Value sample(TagState& s, DataType type, double t) {
        const Signal& sig = s.signal;
        double x = 0;
        switch (sig.kind) {
            case SignalKind::Memory: return s.memory;
            case SignalKind::Sine: x = sig.offset + sig.amplitude * std::sin(2 * std::numbers::pi * t / sig.period_s); break;
            case SignalKind::Ramp: x = sig.min + (sig.max - sig.min) * std::fmod(t, sig.period_s) / sig.period_s; break;
            case SignalKind::Square:
                x = std::fmod(t, sig.period_s) < sig.period_s / 2 ? sig.low : sig.high;
                if (type == DataType::Bool) return Value(x != sig.low);
                break;
            case SignalKind::RandomWalk: {
                std::uniform_real_distribution<double> step(-sig.step, sig.step);
                s.current = std::clamp(s.current + step(rng_), sig.min, sig.max);
                x = s.current;
                break;
            }
            case SignalKind::Counter:
                x = s.current;
                s.current += sig.step;
                break;
        }
        if (is_integer(type)) {
            auto [lo, hi] = limits(type);
            x = std::clamp(std::round(x), lo, hi);
            if (type == DataType::Uint64) return Value(static_cast<uint64_t>(x));
            return Value(static_cast<int64_t>(x));
        }
        if (type == DataType::Float32) return Value(static_cast<double>(static_cast<float>(x)));
        return Value(x);
    }

    boost::asio::io_context& io_;
    const DeviceConfig& config_;
    DriverEvents& events_;
    std::mt19937_64 rng_;
    std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
    std::vector<std::vector<TagState>> state_;
    DriverStats stats_;
};

}  // namespace

std::unique_ptr<Driver> make_sim_driver(boost::asio::io_context& io, const DeviceConfig& config,
                                        DriverEvents& events) {
    return std::make_unique<SimDriver>(io, config, events);
}

}  // namespace ib::drivers::sim
