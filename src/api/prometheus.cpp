#include "api/prometheus.hpp"

#include <sys/resource.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <unordered_map>
#include <vector>

namespace ib::api {
namespace {

// HELP text escapes only backslash and newline (exposition format 0.0.4).
void append_help(std::string& out, std::string_view help) {
    for (char ch : help) {
        if (ch == '\\') {
            out += "\\\\";
        } else if (ch == '\n') {
            out += "\\n";
        } else {
            out += ch;
        }
    }
}

void append_value(std::string& out, double v) {
    if (std::isnan(v)) {
        out += "NaN";
        return;
    }
    if (std::isinf(v)) {
        out += v > 0 ? "+Inf" : "-Inf";
        return;
    }
    char buf[32];
    // Counters are mostly whole numbers: print them without an exponent while
    // a double still holds them exactly (below 2^53).
    if (v == std::trunc(v) && std::fabs(v) < 9007199254740992.0) {
        auto [end, ec] = std::to_chars(buf, buf + sizeof buf, static_cast<int64_t>(v));
        out.append(buf, end);
        return;
    }
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, end);
}

std::string read_proc(const char* path) {
    std::ifstream in(path);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

}  // namespace

std::string format_prometheus(const MetricSink& sink) {
    // Prometheus rejects a scrape where one metric's samples are split by
    // another's, and modules may report the same name from several collectors.
    std::vector<std::string_view> order;
    std::unordered_map<std::string_view, std::vector<const MetricSample*>> by_name;
    for (const MetricSample& s : sink) {
        auto [it, inserted] = by_name.try_emplace(s.name);
        if (inserted) order.push_back(s.name);
        it->second.push_back(&s);
    }
    std::string out;
    out.reserve(sink.size() * 96);
    for (std::string_view name : order) {
        const auto& samples = by_name[name];
        const MetricSample& first = *samples.front();
        out.append("# HELP ").append(name).append(" ");
        append_help(out, first.help);
        out.append("\n# TYPE ").append(name);
        out.append(first.type == MetricType::Counter ? " counter\n" : " gauge\n");
        for (const MetricSample* s : samples) {
            out.append(name);
            if (!s->labels.empty()) out.append("{").append(s->labels).append("}");
            out += ' ';
            append_value(out, s->value);
            out += '\n';
        }
    }
    return out;
}

std::string prometheus_label(std::string_view name, std::string_view value) {
    std::string out(name);
    out += "=\"";
    for (char ch : value) {
        if (ch == '\\') {
            out += "\\\\";
        } else if (ch == '"') {
            out += "\\\"";
        } else if (ch == '\n') {
            out += "\\n";
        } else {
            out += ch;
        }
    }
    out += '"';
    return out;
}

void collect_disk_metrics(const std::string& data_dir, MetricSink& sink) {
    struct statvfs fs {};
    if (statvfs(data_dir.c_str(), &fs) != 0) return;
    const double block = static_cast<double>(fs.f_frsize);
    // f_bavail: what an unprivileged process (the service user) may still write.
    sink.push_back({"ib_data_dir_available_bytes", "Bytes the node may still write on the file system of data_dir.",
                    MetricType::Gauge, "", static_cast<double>(fs.f_bavail) * block});
    sink.push_back({"ib_data_dir_size_bytes", "Size of the file system of data_dir, in bytes.", MetricType::Gauge,
                    "", static_cast<double>(fs.f_blocks) * block});
}

void collect_process_metrics(MetricSink& sink) {
    // statm: size resident shared ... in pages (proc(5)).
    {
        unsigned long long size = 0, resident = 0;
        std::string statm = read_proc("/proc/self/statm");
        if (std::sscanf(statm.c_str(), "%llu %llu", &size, &resident) == 2) {
            sink.push_back({"ib_process_resident_memory_bytes", "Resident memory size in bytes.",
                            MetricType::Gauge, "",
                            static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE))});
        }
    }
    // Start time: field 22 of /proc/self/stat (clock ticks after boot) plus the
    // boot time from /proc/stat. Field 2 (comm) may hold spaces and parentheses,
    // so parsing starts after its last ')'.
    {
        std::string stat = read_proc("/proc/self/stat");
        std::string boot = read_proc("/proc/stat");
        auto paren = stat.rfind(')');
        auto btime_at = boot.find("\nbtime ");
        if (paren != std::string::npos && btime_at != std::string::npos) {
            std::istringstream fields(stat.substr(paren + 2));
            std::string field;
            // After comm, field 3 (state) is the first; starttime is field 22.
            for (int i = 3; i < 22 && fields >> field; ++i) {
            }
            unsigned long long start_ticks = 0, btime = 0;
            if (fields >> start_ticks &&
                std::sscanf(boot.c_str() + btime_at + 7, "%llu", &btime) == 1) {
                double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
                sink.push_back({"ib_process_start_time_seconds",
                                "Start time of the process since the Unix epoch, in seconds.",
                                MetricType::Gauge, "",
                                static_cast<double>(btime) + static_cast<double>(start_ticks) / ticks});
            }
        }
    }
    {
        rusage ru{};
        if (getrusage(RUSAGE_SELF, &ru) == 0) {
            double cpu = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
            sink.push_back({"ib_process_cpu_seconds_total", "User and system CPU time spent, in seconds.",
                            MetricType::Counter, "", cpu});
        }
    }
}

}  // namespace ib::api
