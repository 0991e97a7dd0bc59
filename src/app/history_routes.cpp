#include "app/history_routes.hpp"

#include <charconv>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "api/http_server.hpp"
#include "core/json_writer.hpp"
#include "core/quote.hpp"
#include "store/history.hpp"

namespace ib::app {
namespace {

using api::HttpRequest;
using api::HttpResponse;
using api::json_error;
using store::HistoryAgg;
using store::HistoryStep;

// The answer is built in memory on the API's loop: bound it, and say how to ask
// for less rather than cutting the series short without a word.
constexpr size_t kMaxPoints = 100000;
constexpr int64_t kDefaultSpanMs = 3'600'000;

struct Params {
    std::optional<std::string> device, tag, from, to, step, agg;
};

// Fills `p` from the query string; on a problem, the message for the 400.
std::string parse_query(std::string_view query, Params& p) {
    while (!query.empty()) {
        const size_t amp = query.find('&');
        std::string_view item = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        if (item.empty()) continue;
        const size_t eq = item.find('=');
        const std::string name = api::form_decode(item.substr(0, eq));
        std::string value = eq == std::string_view::npos ? std::string{} : api::form_decode(item.substr(eq + 1));
        std::optional<std::string>* slot = name == "device" ? &p.device
                                           : name == "tag"  ? &p.tag
                                           : name == "from" ? &p.from
                                           : name == "to"   ? &p.to
                                           : name == "step" ? &p.step
                                           : name == "agg"  ? &p.agg
                                                            : nullptr;
        if (slot == nullptr) {
            return "unknown parameter " + quoted(name) + "; expected device, tag, from, to, step or agg";
        }
        if (slot->has_value()) return name + ": given more than once";
        *slot = std::move(value);
    }
    return {};
}

std::optional<int64_t> parse_ms(const std::string& s) {
    int64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || end != s.data() + s.size() || v < 0) return std::nullopt;
    return v;
}

HttpResponse handle(store::History& history, const HttpRequest& req) {
    Params p;
    if (auto problem = parse_query(req.query, p); !problem.empty()) return json_error(400, problem);
    if (!p.device || p.device->empty()) return json_error(400, "device: required (the device name)");
    if (!p.tag || p.tag->empty()) return json_error(400, "tag: required (the tag name)");

    store::HistoryQuery q;
    q.device = *p.device;
    q.tag = *p.tag;
    const int64_t now =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    q.to_ms = now;
    if (p.to) {
        auto v = parse_ms(*p.to);
        if (!v) return json_error(400, "to: expected Unix milliseconds, got " + quoted(*p.to));
        q.to_ms = *v;
    }
    q.from_ms = q.to_ms >= kDefaultSpanMs ? q.to_ms - kDefaultSpanMs : 0;
    if (p.from) {
        auto v = parse_ms(*p.from);
        if (!v) return json_error(400, "from: expected Unix milliseconds, got " + quoted(*p.from));
        q.from_ms = *v;
    }
    if (q.from_ms > q.to_ms) {
        return json_error(400, "from: " + std::to_string(q.from_ms) + " is after to (" + std::to_string(q.to_ms) + ")");
    }
    std::string_view step = p.step ? std::string_view(*p.step) : "raw";
    if (step == "raw") q.step = HistoryStep::Raw;
    else if (step == "1m") q.step = HistoryStep::Minute;
    else if (step == "1h") q.step = HistoryStep::Hour;
    else return json_error(400, "step: expected raw, 1m or 1h, got " + quoted(step));
    std::string_view agg = p.agg ? std::string_view(*p.agg) : "avg";
    if (agg == "avg") q.agg = HistoryAgg::Avg;
    else if (agg == "min") q.agg = HistoryAgg::Min;
    else if (agg == "max") q.agg = HistoryAgg::Max;
    else if (agg == "count") q.agg = HistoryAgg::Count;
    else if (agg == "last") q.agg = HistoryAgg::Last;
    else return json_error(400, "agg: expected avg, min, max, count or last, got " + quoted(agg));
    q.limit = kMaxPoints + 1;

    // Answered by the history's writer thread once what came before is written.
    HttpResponse deferred;
    deferred.deferred = [&history, q, step = std::string(step), agg = std::string(agg), device = std::string(q.device),
                         tag = std::string(q.tag)](std::function<void(HttpResponse)> reply) {
        history.query_async(device, tag, q, [q, step, agg, device, tag, reply](store::History::QueryResult points) {
            if (!points) return reply(json_error(500, points.error()));
            if (points->size() > kMaxPoints) {
                return reply(json_error(400, "step: more than " + std::to_string(kMaxPoints) + " points at step=" + step +
                                                 " between from and to; ask for a shorter range or a coarser step"));
            }
            HttpResponse r;
            std::string& out = r.body;
            out.reserve(128 + points->size() * 24);
            JsonWriter w(out);
            w.begin_object().field("device", device).field("tag", tag).field("step", step);
            if (q.step != HistoryStep::Raw) w.field("agg", agg);
            w.field("from", q.from_ms).field("to", q.to_ms).key("points").begin_array();
            // A sum of huge values can overflow; number() writes JSON's null for it.
            for (const auto& pt : *points) w.begin_array().number(pt.ts_ms).number(pt.value).end_array();
            w.end_array().end_object();
            reply(std::move(r));
        });
    };
    return deferred;
}

}  // namespace

void add_history_routes(api::HttpServer& server, store::History& history, boost::asio::io_context& history_loop) {
    server.route("GET", "/api/v1/history", [&history](const HttpRequest& r) { return handle(history, r); },
                 &history_loop);
}

}  // namespace ib::app
