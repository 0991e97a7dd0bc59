#include "app/inspection.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/json_writer.hpp"

namespace ib::app::inspection {

namespace {

constexpr int64_t kHourMs = 3'600'000;
constexpr int64_t kDayMs = 24 * kHourMs;
// A bridge that reconnected this often within the last hour is flapping.
constexpr std::size_t kFlappingConnects = 3;
// Store-and-forward: warn at half the queue or a day until full, fail at 90 %
// or two hours (an operator's night and a coffee break, respectively).
constexpr double kBacklogWarnShare = 0.5, kBacklogFailShare = 0.9;
constexpr double kFullWarnHours = 24, kFullFailHours = 2;
// data_dir's file system.
constexpr double kDiskWarnShare = 0.15, kDiskFailShare = 0.05;
constexpr double kDiskWarnBytes = 1024.0 * 1024 * 1024, kDiskFailBytes = 200.0 * 1024 * 1024;
// Devices: failed requests over requests between two evaluations.
constexpr double kDeviceErrorFailShare = 0.5;
// Broker: messages dropped for slow subscribers between two evaluations.
constexpr double kDropsFail = 1000;
constexpr int64_t kCertificateWarnMs = 30 * kDayMs;
constexpr double kMemoryWarnShare = 0.10, kMemoryFailShare = 0.05;
constexpr double kFilesWarnShare = 0.80, kFilesFailShare = 0.95;
// A wall clock before this (2025-01-01) is wrong: certificates and the fleet's
// revisions' times would be judged against it.
constexpr int64_t kSaneClockMs = 1'735'689'600'000;

// Sums of one metric's samples, optionally per value of one label.
double sum_of(const MetricSink& s, std::string_view name) {
    double v = 0;
    for (const auto& m : s) {
        if (m.name == name) v += m.value;
    }
    return v;
}

std::map<std::string, double> by_label(const MetricSink& s, std::string_view name, std::string_view label) {
    std::map<std::string, double> out;
    for (const auto& m : s) {
        if (m.name == name) out[label_value(m.labels, label)] += m.value;
    }
    return out;
}

std::optional<double> find(const MetricSink& s, std::string_view name) {
    for (const auto& m : s) {
        if (m.name == name) return m.value;
    }
    return std::nullopt;
}

// A counter's increase since the previous snapshot (its total when there is none:
// a node just started has only its totals).
double increase(const Inputs& in, std::string_view name) {
    const double now = sum_of(in.now.samples, name);
    if (!in.previous) return now;
    return std::max(0.0, now - sum_of(in.previous->samples, name));
}

std::string since_text(const Inputs& in) {
    if (!in.previous) return "since start";
    return "in the last " + std::string(fmt::format("{:.0f} s", (in.now.at_ms - in.previous->at_ms) / 1000.0));
}

std::string duration_text(int64_t ms) {
    const int64_t s = std::max<int64_t>(0, ms / 1000);
    if (s < 120) return fmt::format("{} s", s);
    if (s < 7200) return fmt::format("{} min", s / 60);
    if (s < 2 * 86400) return fmt::format("{} h", s / 3600);
    return fmt::format("{} d", s / 86400);
}

std::string bytes_text(double b) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (b >= 1024 && u < 4) {
        b /= 1024;
        ++u;
    }
    return u == 0 ? fmt::format("{:.0f} B", b) : fmt::format("{:.1f} {}", b, units[u]);
}

std::string join(const std::vector<std::string>& parts, std::string_view sep = "; ") {
    std::string out;
    for (const auto& p : parts) {
        if (!out.empty()) out += sep;
        out += p;
    }
    return out;
}

// An advice's `{placeholder}` (an API path's parameter) filled when exactly one
// object is at fault, so the path can be pasted as it is.
std::string naming(std::string advice, std::string_view placeholder, const std::vector<std::string>& names) {
    if (names.size() != 1) return advice;
    for (std::size_t at = advice.find(placeholder); at != std::string::npos; at = advice.find(placeholder, at)) {
        advice.replace(at, placeholder.size(), names[0]);
        at += names[0].size();
    }
    return advice;
}

Status worst(Status a, Status b) { return static_cast<uint8_t>(a) >= static_cast<uint8_t>(b) ? a : b; }

Check make(std::string_view id, std::string threshold) {
    Check c;
    c.id = std::string(id);
    c.threshold = std::move(threshold);
    return c;
}

Check cloud_link(const Inputs& in) {
    Check c = make("cloud_link", "every bridge connected; fewer than 3 connects in an hour");
    const auto connected = by_label(in.now.samples, "ib_bridge_connected", "bridge");
    if (connected.empty()) {
        c.value = "no bridge";
        return c;
    }
    std::vector<std::string> down, flapping, down_names, flapping_names;
    std::optional<int64_t> latest_connect;
    for (const auto& [name, up] : connected) {
        auto mem = in.bridge_memory.find(name);
        const BridgeMemory* m = mem == in.bridge_memory.end() ? nullptr : &mem->second;
        if (m && m->last_connect_ms) latest_connect = std::max(latest_connect.value_or(0), *m->last_connect_ms);
        if (up < 1) {
            std::string what = "'" + name + "' down";
            if (m && m->down_since_ms) what += " for " + duration_text(in.now.at_ms - *m->down_since_ms);
            if (!m || !m->last_connect_ms) what += " (never connected since start)";
            down.push_back(std::move(what));
            down_names.push_back(name);
        } else if (m && m->recent_connects_ms.size() >= kFlappingConnects) {
            flapping_names.push_back(name);
            flapping.push_back(fmt::format("'{}' connected {} times in the last hour", name, m->recent_connects_ms.size()));
        }
    }
    const std::size_t up = connected.size() - down.size();
    c.value = fmt::format("{}/{} connected", up, connected.size());
    if (latest_connect) c.value += ", last connect " + duration_text(in.now.at_ms - *latest_connect) + " ago";
    if (!down.empty()) {
        c.status = Status::Fail;
        c.value += "; " + join(down);
        c.advice = "A bridge cannot reach its upstream broker: check that broker is up and reachable from here "
                   "(address and port in [[bridges]] servers), then the bridge's username/password and TLS settings; "
                   "GET /api/v1/bridges/{name} lists its last disconnects with the reason. Messages wait in its "
                   "queue meanwhile (see the backlog check).";
        c.advice = naming(std::move(c.advice), "{name}", down_names);
    } else if (!flapping.empty()) {
        c.status = Status::Warn;
        c.value += "; " + join(flapping);
        c.advice = "The link keeps dropping: look at the disconnect reasons in GET /api/v1/bridges/{name}; a "
                   "keep-alive timeout on a poor link wants a longer [[bridges]] keep_alive_s, a refused "
                   "connection a check of the upstream's limits (client id taken by another node?).";
        c.advice = naming(std::move(c.advice), "{name}", flapping_names);
    }
    return c;
}

Check backlog(const Inputs& in) {
    Check c = make("backlog", fmt::format("queue < {:.0f} % full and > {:.0f} h until full (warn), < {:.0f} % and > "
                                          "{:.0f} h (fail)",
                                          kBacklogWarnShare * 100, kFullWarnHours, kBacklogFailShare * 100,
                                          kFullFailHours));
    if (in.bridges.empty()) {
        c.value = "no bridge";
        return c;
    }
    const auto bytes = by_label(in.now.samples, "ib_bridge_backlog_bytes", "bridge");
    const auto messages = by_label(in.now.samples, "ib_bridge_backlog_messages", "bridge");
    const auto pushing = by_label(in.now.samples, "ib_bridge_pushing_back", "bridge");
    std::map<std::string, double> before;
    if (in.previous) before = by_label(in.previous->samples, "ib_bridge_backlog_bytes", "bridge");
    std::vector<std::string> parts;
    for (const auto& b : in.bridges) {
        const double used = bytes.contains(b.name) ? bytes.at(b.name) : 0;
        const double share = b.max_queue_bytes ? used / static_cast<double>(b.max_queue_bytes) : 0;
        std::string part = fmt::format("'{}' {:.0f} messages, {} ({:.1f} % of {})", b.name,
                                       messages.contains(b.name) ? messages.at(b.name) : 0, bytes_text(used),
                                       share * 100, bytes_text(static_cast<double>(b.max_queue_bytes)));
        Status s = Status::Pass;
        if (share >= kBacklogFailShare || (pushing.contains(b.name) && pushing.at(b.name) > 0)) s = Status::Fail;
        else if (share >= kBacklogWarnShare) s = Status::Warn;
        if (in.previous && before.contains(b.name) && in.now.at_ms > in.previous->at_ms) {
            const double per_hour = (used - before.at(b.name)) * kHourMs / double(in.now.at_ms - in.previous->at_ms);
            if (per_hour > 0 && b.max_queue_bytes > used) {
                const double hours = (static_cast<double>(b.max_queue_bytes) - used) / per_hour;
                part += fmt::format(", growing {}/h, full in {:.1f} h", bytes_text(per_hour), hours);
                if (hours < kFullFailHours) s = worst(s, Status::Fail);
                else if (hours < kFullWarnHours) s = worst(s, Status::Warn);
            }
        }
        c.status = worst(c.status, s);
        parts.push_back(std::move(part));
    }
    c.value = join(parts);
    if (c.status != Status::Pass) {
        c.advice = "The store-and-forward queue is filling: restore the cloud link first (cloud_link check); if "
                   "it is up, the upstream acknowledges too slowly for the rate forwarded: raise [[bridges]] "
                   "inflight, forward fewer topics, or raise max_queue_bytes (and the disk under data_dir) so the "
                   "queue outlives the outage. At the limit queue_full decides: drop-oldest loses old data, "
                   "push-back slows local publishers.";
    }
    return c;
}

Check disk(const Inputs& in) {
    Check c = make("disk", fmt::format("available > {:.0f} % and > {} (warn), > {:.0f} % and > {} (fail)",
                                       kDiskWarnShare * 100, bytes_text(kDiskWarnBytes), kDiskFailShare * 100,
                                       bytes_text(kDiskFailBytes)));
    const auto avail = find(in.now.samples, "ib_data_dir_available_bytes");
    const auto size = find(in.now.samples, "ib_data_dir_size_bytes");
    if (!avail || !size || *size <= 0) {
        c.status = Status::Warn;
        c.value = "unknown (data_dir's file system cannot be read)";
        c.advice = "Check that data_dir exists and is readable by the ironbridge user.";
        return c;
    }
    const double share = *avail / *size;
    c.value = fmt::format("{} available of {} ({:.1f} %)", bytes_text(*avail), bytes_text(*size), share * 100);
    if (share < kDiskFailShare || *avail < kDiskFailBytes) c.status = Status::Fail;
    else if (share < kDiskWarnShare || *avail < kDiskWarnBytes) c.status = Status::Warn;
    if (c.status != Status::Pass) {
        c.advice = "data_dir's disk is nearly full, and SQLite fails when it is: free space there or move data_dir "
                   "to a larger volume; shorten history.raw_retention_h or set history.max_bytes, lower [[bridges]] max_queue_bytes "
                   "(du -sh data_dir/* shows which file grew).";
    }
    return c;
}

Check sqlite_integrity(const Inputs& in) {
    Check c = make("sqlite_integrity", "PRAGMA quick_check ok on every SQLite file of data_dir");
    const auto& f = in.integrity;
    if (!f.checked) {
        c.value = "not checked yet (runs in the background after start)";
        return c;
    }
    if (f.problems.empty()) {
        c.value = fmt::format("{} files ok", f.files.size());
        return c;
    }
    c.status = Status::Fail;
    c.value = join(f.problems);
    c.advice = "A database file is damaged (a disk fault or a copy taken while it was written): stop the node, "
               "keep a copy of the file, then run sqlite3 FILE '.recover' | sqlite3 FILE.new and put FILE.new in its "
               "place, or remove the file (an unreadable file is moved aside at start and a new one begins).";
    return c;
}

Check devices(const Inputs& in) {
    Check c = make("devices", fmt::format("no failed request or overrun (warn); failed requests < {:.0f} % (fail)",
                                          kDeviceErrorFailShare * 100));
    const auto tags = by_label(in.now.samples, "ib_device_tags", "device");
    if (tags.empty()) {
        c.value = "no device";
        return c;
    }
    const double errors = increase(in, "ib_device_errors_total") + increase(in, "ib_device_tag_errors_total");
    const double requests = increase(in, "ib_device_requests_total");
    const double overruns = increase(in, "ib_device_poll_overruns_total");
    const double failed_requests = increase(in, "ib_device_errors_total");
    c.value = fmt::format("{} devices; {:.0f} errors, {:.0f} overruns, {:.0f} requests {}", tags.size(), errors,
                          overruns, requests, since_text(in));
    if (requests > 0 && failed_requests / requests >= kDeviceErrorFailShare) c.status = Status::Fail;
    else if (errors > 0 || overruns > 0) c.status = Status::Warn;
    if (c.status == Status::Pass) return c;
    // Name the devices that erred, from the per-device counters.
    std::vector<std::string> names, raw_names;
    const auto now_err = by_label(in.now.samples, "ib_device_errors_total", "device");
    const auto now_over = by_label(in.now.samples, "ib_device_poll_overruns_total", "device");
    std::map<std::string, double> prev_err, prev_over;
    if (in.previous) {
        prev_err = by_label(in.previous->samples, "ib_device_errors_total", "device");
        prev_over = by_label(in.previous->samples, "ib_device_poll_overruns_total", "device");
    }
    for (const auto& [d, _] : tags) {
        const double e = (now_err.contains(d) ? now_err.at(d) : 0) - (prev_err.contains(d) ? prev_err.at(d) : 0);
        const double o = (now_over.contains(d) ? now_over.at(d) : 0) - (prev_over.contains(d) ? prev_over.at(d) : 0);
        if (e > 0 || o > 0) {
            names.push_back(fmt::format("'{}' ({:.0f} errors, {:.0f} overruns)", d, e, o));
            raw_names.push_back(d);
        }
    }
    if (!names.empty()) c.value += ": " + join(names, ", ");
    c.advice = "Timeouts and exceptions: check the device's address, unit id and tag addresses (GET "
               "/api/v1/devices/{name} shows the last error per tag) and its network; overruns mean a group's read "
               "takes longer than its interval: raise the group's interval_ms or split the group, and for Modbus "
               "let nearby registers be read in one request.";
    c.advice = naming(std::move(c.advice), "{name}", raw_names);
    return c;
}

Check stale_tags(const Inputs& in) {
    Check c = make("stale_tags", "every device's tags fresh (its link up)");
    const auto tags = by_label(in.now.samples, "ib_device_tags", "device");
    const auto connected = by_label(in.now.samples, "ib_device_connected", "device");
    double total = 0, stale = 0;
    std::vector<std::string> names, raw_names;
    for (const auto& [d, n] : tags) {
        total += n;
        if (connected.contains(d) && connected.at(d) < 1) {
            stale += n;
            names.push_back("'" + d + "'");
            raw_names.push_back(d);
        }
    }
    if (total == 0) {
        c.value = "no tag";
        return c;
    }
    c.value = fmt::format("{:.0f} of {:.0f} tags stale", stale, total);
    if (stale == 0) return c;
    c.value += " (devices not connected: " + join(names, ", ") + ")";
    c.status = stale >= total ? Status::Fail : Status::Warn;
    c.advice = "These devices' tags are not being read: check that the device is powered and reachable (its host "
               "and port in [[devices]]), and GET /api/v1/devices/{name} for the link's last error; a device no longer "
               "in service should be removed or disabled so its tags are not expected.";
    c.advice = naming(std::move(c.advice), "{name}", raw_names);
    return c;
}

Check rules(const Inputs& in) {
    Check c = make("rules", "every rule running, no failed message (warn)");
    const auto running = by_label(in.now.samples, "ib_rule_running", "rule");
    if (running.empty()) {
        c.value = "no rule";
        return c;
    }
    std::vector<std::string> stopped, erring, at_fault;
    for (const auto& [r, v] : running) {
        if (v < 1) {
            stopped.push_back("'" + r + "'");
            at_fault.push_back(r);
        }
    }
    const auto now_err = by_label(in.now.samples, "ib_rule_errors_total", "rule");
    std::map<std::string, double> prev_err;
    if (in.previous) prev_err = by_label(in.previous->samples, "ib_rule_errors_total", "rule");
    for (const auto& [r, v] : now_err) {
        const double e = v - (prev_err.contains(r) ? prev_err.at(r) : 0);
        if (e > 0) {
            erring.push_back(fmt::format("'{}' ({:.0f} failed messages)", r, e));
            if (std::find(at_fault.begin(), at_fault.end(), r) == at_fault.end()) at_fault.push_back(r);
        }
    }
    c.value = fmt::format("{} rules, {} not running, {} with errors {}", running.size(), stopped.size(), erring.size(),
                          since_text(in));
    if (!stopped.empty()) {
        c.status = Status::Fail;
        c.value += "; not running: " + join(stopped, ", ");
    }
    if (!erring.empty()) {
        c.status = worst(c.status, Status::Warn);
        c.value += "; errors: " + join(erring, ", ");
    }
    if (c.status != Status::Pass) {
        c.advice = "GET /api/v1/rules/{id} shows a rule's last error: a failing message usually has a field the SQL "
                   "does not expect (guard it with WHERE ... IS NOT NULL) and a failing action an unreachable sink; "
                   "a rule not running is disabled or could not subscribe: enable it with PUT /api/v1/rules/{id}.";
        c.advice = naming(std::move(c.advice), "{id}", at_fault);
    }
    return c;
}

Check broker(const Inputs& in) {
    Check c = make("broker", fmt::format("no message dropped for a slow subscriber (warn), fewer than {:.0f} (fail)",
                                         kDropsFail));
    double slow = 0;
    double now_total = 0, prev_total = 0;
    for (const auto& m : in.now.samples) {
        if (m.name != "ib_mqtt_messages_dropped_total") continue;
        now_total += m.value;
        if (label_value(m.labels, "reason").starts_with("queue_full")) slow += m.value;
    }
    if (in.previous) {
        for (const auto& m : in.previous->samples) {
            if (m.name != "ib_mqtt_messages_dropped_total") continue;
            prev_total += m.value;
            if (label_value(m.labels, "reason").starts_with("queue_full")) slow -= m.value;
        }
    }
    slow = std::max(0.0, slow);
    const double connections = find(in.now.samples, "ib_mqtt_connections").value_or(0);
    c.value = fmt::format("{:.0f} clients; {:.0f} messages dropped for slow subscribers, {:.0f} in all {}", connections,
                          slow, std::max(0.0, now_total - prev_total), since_text(in));
    if (slow >= kDropsFail) c.status = Status::Fail;
    else if (slow > 0) c.status = Status::Warn;
    if (c.status != Status::Pass) {
        c.advice = "A subscriber reads slower than its topics are published and its queue overflows: find it with "
                   "GET /api/v1/mqtt/clients (the largest queue), give it a narrower subscription or QoS 1 with a "
                   "persistent session, or raise [broker] max_queued_messages if the bursts are short.";
    }
    return c;
}

Check security(const Inputs& in) {
    Check c = make("security", "no anonymous access, plain listener or open API beyond the loopback");
    const auto& s = in.security;
    std::vector<std::string> findings;
    std::vector<std::string> advice;
    for (const auto& l : s.listeners) {
        if (is_loopback(l.bind_address)) continue;
        if (l.anonymous) {
            findings.push_back(fmt::format("listener '{}' on {} accepts anonymous clients", l.name, l.bind_address));
            c.status = worst(c.status, Status::Warn);
            advice.push_back(fmt::format("set allow_anonymous = false on listener '{}' (or [broker] allow_anonymous) "
                                         "and give clients [[users]] (ironbridge passwd FILE USER)",
                                         l.name));
        }
        if (!l.tls) {
            findings.push_back(fmt::format("listener '{}' on {} without TLS", l.name, l.bind_address));
            c.status = worst(c.status, Status::Warn);
            advice.push_back(fmt::format("serve listener '{}' with transport = \"tls\" and tls_cert/tls_key, or bind "
                                         "it to 127.0.0.1",
                                         l.name));
        }
    }
    if (s.api_enabled && !is_loopback(s.api_bind_address)) {
        if (s.api_anonymous) {
            findings.push_back("the API on " + s.api_bind_address + " acts as an admin for anyone without credentials");
            c.status = Status::Fail;
            advice.push_back("set api.allow_anonymous = false and give api.tokens (\"viewer:...\", \"admin:...\") or "
                             "[[users]] with a role");
        }
        if (!s.api_tls) {
            findings.push_back("the API on " + s.api_bind_address + " without TLS");
            c.status = worst(c.status, Status::Warn);
            advice.push_back("set api.tls_cert and api.tls_key so passwords and tokens do not cross the network in "
                             "clear, or bind api.bind to 127.0.0.1 behind a reverse proxy");
        }
    }
    c.value = findings.empty() ? "nothing exposed without protection" : join(findings);
    if (!advice.empty()) c.advice = "To do: " + join(advice) + ".";
    return c;
}

Check certificates(const Inputs& in) {
    Check c = make("certificates", "every certificate valid for more than 30 days");
    const auto& certs = in.security.certificates;
    if (certs.empty()) {
        c.value = "no certificate";
        return c;
    }
    std::vector<std::string> findings, fine;
    for (const auto& cert : certs) {
        if (!cert.not_after_ms) {
            findings.push_back(fmt::format("{} ({}) unreadable: {}", cert.what, cert.path, cert.error));
            c.status = Status::Fail;
            continue;
        }
        const int64_t left = *cert.not_after_ms - in.host.wall_clock_ms;
        if (left <= 0) {
            findings.push_back(fmt::format("{} ({}) expired {} ago", cert.what, cert.path, duration_text(-left)));
            c.status = Status::Fail;
        } else if (left < kCertificateWarnMs) {
            findings.push_back(fmt::format("{} ({}) expires in {}", cert.what, cert.path, duration_text(left)));
            c.status = worst(c.status, Status::Warn);
        } else {
            fine.push_back(fmt::format("{} valid {} more", cert.what, duration_text(left)));
        }
    }
    c.value = findings.empty() ? join(fine) : join(findings);
    if (c.status != Status::Pass) {
        c.advice = "Renew the certificate before clients refuse it: put the new PEM in place of the file named (a "
                   "broker listener's tls_cert is reloaded when it changes; api.tls_cert needs a restart); for the OPC "
                   "UA certificate remove data_dir/pki/own and restart, then trust the new one on the servers.";
    }
    return c;
}

Check host(const Inputs& in) {
    Check c = make("host", fmt::format("memory available > {:.0f} %, open files < {:.0f} % of the limit, clock after "
                                       "2025 (warn: {:.0f} % / {:.0f} %)",
                                       kMemoryFailShare * 100, kFilesFailShare * 100, kMemoryWarnShare * 100,
                                       kFilesWarnShare * 100));
    const auto& h = in.host;
    std::vector<std::string> parts, advice;
    if (h.memory_available_bytes && h.memory_total_bytes && *h.memory_total_bytes > 0) {
        const double share = double(*h.memory_available_bytes) / double(*h.memory_total_bytes);
        parts.push_back(fmt::format("memory {} available of {}", bytes_text(double(*h.memory_available_bytes)),
                                    bytes_text(double(*h.memory_total_bytes))));
        const Status s = share < kMemoryFailShare ? Status::Fail : share < kMemoryWarnShare ? Status::Warn : Status::Pass;
        if (s != Status::Pass) advice.push_back("free memory on the host or give the node more (ib_process_resident_"
                                                "memory_bytes shows this process's share)");
        c.status = worst(c.status, s);
    }
    if (h.open_files && h.open_files_limit && *h.open_files_limit > 0) {
        const double share = double(*h.open_files) / double(*h.open_files_limit);
        parts.push_back(fmt::format("open files {} of {}", *h.open_files, *h.open_files_limit));
        const Status s = share >= kFilesFailShare ? Status::Fail : share >= kFilesWarnShare ? Status::Warn : Status::Pass;
        if (s != Status::Pass) advice.push_back("raise the open files limit (LimitNOFILE= in the systemd unit, "
                                                "ulimit -n) or lower the listeners' max_connections");
        c.status = worst(c.status, s);
    }
    if (h.wall_clock_ms < kSaneClockMs) {
        parts.push_back("clock reads before 2025");
        c.status = Status::Fail;
        advice.push_back("set the clock and keep it set (systemd-timesyncd or chrony): readings' timestamps and "
                         "certificate checks depend on it");
    } else if (h.clock_synchronized) {
        parts.push_back(*h.clock_synchronized ? "clock synchronized" : "clock not synchronized by NTP");
    }
    c.value = join(parts);
    if (!advice.empty()) c.advice = "To do: " + join(advice) + ".";
    return c;
}

Check config_drift(const Inputs& in) {
    Check c = make("config_drift", "applied revision = desired revision; last apply not rolled back");
    if (!in.fleet) {
        c.value = "no fleet";
        return c;
    }
    const auto& f = *in.fleet;
    c.value = fmt::format("applied revision {}", f.applied_revision);
    if (f.desired_revision) c.value += fmt::format(", desired {}", *f.desired_revision);
    if (!f.last_apply_result.empty()) c.value += ", last apply " + f.last_apply_result;
    if (!f.last_apply_reason.empty()) c.value += " (" + f.last_apply_reason + ")";
    if (f.last_apply_result == "rolled_back" || f.last_apply_result == "failed") c.status = Status::Fail;
    else if (f.desired_revision && *f.desired_revision != f.applied_revision) c.status = Status::Warn;
    if (c.status != Status::Pass) {
        c.advice = "The node does not run the configuration the fleet wants: read the reason above (or the edge's "
                   "status topic), fix the template or the edge (ironbridge fleet diff shows what would change) and "
                   "push again; ironbridge fleet rollback --to N returns to a known revision.";
    }
    return c;
}

}  // namespace

std::string_view status_name(Status s) {
    switch (s) {
        case Status::Pass: return "pass";
        case Status::Warn: return "warn";
        case Status::Fail: return "fail";
    }
    return "fail";
}

std::string label_value(std::string_view labels, std::string_view name) {
    std::size_t pos = 0;
    while (pos < labels.size()) {
        const std::size_t eq = labels.find('=', pos);
        if (eq == std::string_view::npos || eq + 1 >= labels.size() || labels[eq + 1] != '"') return "";
        const std::string_view key = labels.substr(pos, eq - pos);
        std::string value;
        std::size_t i = eq + 2;
        for (; i < labels.size() && labels[i] != '"'; ++i) {
            if (labels[i] == '\\' && i + 1 < labels.size()) {
                ++i;
                value += labels[i] == 'n' ? '\n' : labels[i];
            } else {
                value += labels[i];
            }
        }
        if (key == name) return value;
        pos = i + 1;
        if (pos < labels.size() && labels[pos] == ',') ++pos;
    }
    return "";
}

bool is_loopback(std::string_view address) {
    return address.starts_with("127.") || address == "::1" || address == "localhost";
}

void remember_bridges(std::map<std::string, BridgeMemory>& memory, const Snapshot& now, int64_t started_ms) {
    const auto connected = by_label(now.samples, "ib_bridge_connected", "bridge");
    const auto connects = by_label(now.samples, "ib_bridge_connects_total", "bridge");
    for (const auto& [name, up] : connected) {
        const double n = connects.contains(name) ? connects.at(name) : 0;
        auto [it, first_time] = memory.try_emplace(name);
        BridgeMemory& m = it->second;
        if (n > m.connects) {
            // A connect happened since the last look; when exactly is not in the
            // metrics, so "now" (at most one evaluation's interval late).
            m.last_connect_ms = now.at_ms;
            const auto times = static_cast<std::size_t>(n - m.connects);
            // The first look counts the connect at start, not a reconnect.
            if (!first_time) m.recent_connects_ms.insert(m.recent_connects_ms.end(), times, now.at_ms);
            m.connects = n;
        }
        std::erase_if(m.recent_connects_ms, [&](int64_t t) { return now.at_ms - t > kHourMs; });
        if (up >= 1) m.down_since_ms.reset();
        else if (!m.down_since_ms) m.down_since_ms = first_time && n == 0 ? started_ms : now.at_ms;
    }
}

int score_of(const std::vector<Check>& checks) {
    double lost = 0;
    for (const auto& c : checks) {
        for (const auto& w : kChecks) {
            if (w.id != c.id) continue;
            if (c.status == Status::Fail) lost += w.weight;
            else if (c.status == Status::Warn) lost += w.weight / 2.0;
        }
    }
    return std::clamp(static_cast<int>(std::lround(100 - lost)), 0, 100);
}

Report evaluate(const Inputs& in) {
    Report r;
    r.ts_ms = in.host.wall_clock_ms;
    r.checks = {cloud_link(in), backlog(in),  disk(in),     sqlite_integrity(in), devices(in), stale_tags(in),
                rules(in),      broker(in),   security(in), certificates(in),     host(in),    config_drift(in)};
    r.score = score_of(r.checks);
    return r;
}

std::string to_json(const Report& report) {
    std::string out;
    JsonWriter w(out);
    w.begin_object().field("score", report.score).field("ts", report.ts_ms).key("checks").begin_array();
    for (const auto& c : report.checks) {
        w.begin_object()
            .field("id", c.id)
            .field("status", status_name(c.status))
            .field("value", c.value)
            .field("threshold", c.threshold)
            .field("advice", c.advice)
            .end_object();
    }
    w.end_array().end_object();
    return out;
}

void add_report_metrics(const Report& report, MetricSink& sink) {
    sink.push_back({"ib_health_score", "The health inspection's score, 0 (every check failed) to 100.",
                    MetricType::Gauge, "", static_cast<double>(report.score)});
    for (const auto& c : report.checks) {
        sink.push_back({"ib_health_check", "Each health inspection check: 0 pass, 1 warn, 2 fail.", MetricType::Gauge,
                        "check=\"" + c.id + "\"", static_cast<double>(static_cast<uint8_t>(c.status))});
    }
}

}  // namespace ib::app::inspection
