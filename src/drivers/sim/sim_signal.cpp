#include "drivers/sim/sim_signal.hpp"

#include <charconv>
#include <utility>

namespace ib::drivers::sim {
namespace {

constexpr std::string_view kForm =
    "; expected KIND[:key=value,...] with KIND one of sine, ramp, square, random, counter, memory, "
    "e.g. sine:period=60,amplitude=10,offset=20";

std::unexpected<std::string> refuse(std::string_view address, std::string_view why) {
    return std::unexpected("\"" + std::string(address) + "\": " + std::string(why) + std::string(kForm));
}

double* parameter(Signal& s, std::string_view key) {
    if (key == "period") return &s.period_s;
    if (key == "amplitude") return &s.amplitude;
    if (key == "offset") return &s.offset;
    if (key == "min") return &s.min;
    if (key == "max") return &s.max;
    if (key == "low") return &s.low;
    if (key == "high") return &s.high;
    if (key == "start" || key == "initial") return &s.start;
    if (key == "step") return &s.step;
    return nullptr;
}

}  // namespace

std::expected<Signal, std::string> parse_signal(std::string_view address) {
    Signal s;
    std::string_view kind = address.substr(0, address.find(':'));
    static constexpr std::pair<std::string_view, SignalKind> kKinds[] = {
        {"sine", SignalKind::Sine},       {"ramp", SignalKind::Ramp},
        {"square", SignalKind::Square},   {"random", SignalKind::RandomWalk},
        {"counter", SignalKind::Counter}, {"memory", SignalKind::Memory},
    };
    bool known = false;
    for (const auto& [name, k] : kKinds) {
        if (name == kind) {
            s.kind = k;
            known = true;
        }
    }
    if (!known) return refuse(address, "unknown signal '" + std::string(kind) + "'");
    if (s.kind == SignalKind::Ramp) s.period_s = 60;
    if (s.kind == SignalKind::Square) s.period_s = 10;
    if (s.kind == SignalKind::RandomWalk) s.start = 50;

    std::string_view rest = kind.size() < address.size() ? address.substr(kind.size() + 1) : "";
    while (!rest.empty()) {
        std::string_view item = rest.substr(0, rest.find(','));
        rest = item.size() < rest.size() ? rest.substr(item.size() + 1) : "";
        auto eq = item.find('=');
        if (eq == std::string_view::npos) return refuse(address, "'" + std::string(item) + "' is not key=value");
        std::string_view key = item.substr(0, eq);
        std::string_view text = item.substr(eq + 1);
        double* target = parameter(s, key);
        if (target == nullptr) return refuse(address, "unknown parameter '" + std::string(key) + "'");
        double v = 0;
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
        if (ec != std::errc{} || end != text.data() + text.size()) {
            return refuse(address, "'" + std::string(text) + "' is not a number");
        }
        *target = v;
    }
    if (!(s.period_s > 0)) return refuse(address, "period must be above 0 seconds");
    if (s.min > s.max) return refuse(address, "min is above max");
    return s;
}

bool signal_fits(const Signal& signal, DataType type) {
    switch (type) {
        case DataType::Bool: return signal.kind == SignalKind::Square || signal.kind == SignalKind::Memory;
        case DataType::String: return signal.kind == SignalKind::Memory;
        case DataType::Bytes: return false;
        default: return true;
    }
}

std::string check_tag_address(const DeviceConfig&, const TagConfig& tag) {
    auto signal = parse_signal(tag.address());
    if (!signal) return signal.error();
    if (!signal_fits(*signal, tag.type)) {
        return "a " + std::string(data_type_name(tag.type)) + " tag cannot carry signal \"" +
               std::string(tag.address()) + "\" (bool: square or memory; string: memory)";
    }
    return {};
}

}  // namespace ib::drivers::sim
