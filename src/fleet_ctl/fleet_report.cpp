#include "fleet_ctl/fleet_report.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace ib::fleet_ctl {

namespace {

// Columns as wide as their widest cell; the last one is not padded.
std::string table(const std::vector<std::vector<std::string>>& rows) {
    std::vector<std::size_t> width;
    for (const auto& r : rows) {
        width.resize(std::max(width.size(), r.size()));
        for (std::size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
    }
    std::string out;
    for (const auto& r : rows) {
        std::string line;
        for (std::size_t i = 0; i < r.size(); ++i) {
            line += r[i];
            if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 2, ' ');
        }
        while (!line.empty() && line.back() == ' ') line.pop_back();
        out += line + "\n";
    }
    return out;
}

std::string age_text(int64_t ms) {
    const int64_t s = std::max<int64_t>(0, ms / 1000);
    if (s < 120) return fmt::format("{} s ago", s);
    if (s < 7200) return fmt::format("{} min ago", s / 60);
    if (s < 172800) return fmt::format("{} h ago", s / 3600);
    return fmt::format("{} d ago", s / 86400);
}

}  // namespace

ResultCounts count_results(const std::vector<EdgeResult>& results) {
    ResultCounts c;
    for (const auto& r : results) {
        if (r.phase == "done") ++c.done;
        else if (r.phase == "failed") ++c.failed;
        else if (r.phase == "rolled_back") ++c.rolled_back;
        else ++c.waiting;
    }
    return c;
}

std::string result_table(const std::vector<EdgeResult>& results) {
    std::vector<std::vector<std::string>> rows{{"EDGE", "PHASE", "CODE", "MESSAGE"}};
    for (const auto& r : results) rows.push_back({r.key, r.phase, r.code.empty() ? "-" : r.code, r.message});
    const ResultCounts c = count_results(results);
    return table(rows) + fmt::format("{} done, {} failed, {} rolled back, {} without a final answer\n", c.done, c.failed,
                                     c.rolled_back, c.waiting);
}

int exit_code_of(const std::vector<EdgeResult>& results) {
    return std::all_of(results.begin(), results.end(), [](const EdgeResult& r) { return r.phase == "done"; }) ? 0 : 1;
}

std::string progress_line(const std::vector<EdgeResult>& results, int width) {
    const ResultCounts c = count_results(results);
    const std::size_t total = results.size();
    const std::size_t ended = total - c.waiting;
    const int filled = total ? static_cast<int>(ended * static_cast<std::size_t>(width) / total) : width;
    std::string bar = "[" + std::string(filled, '#') + std::string(width - filled, '-') + "]";
    std::string line = fmt::format("{} {}/{} done", bar, c.done, total);
    if (c.failed) line += fmt::format(", {} failed", c.failed);
    if (c.rolled_back) line += fmt::format(", {} rolled back", c.rolled_back);
    line += fmt::format(", {} waiting", c.waiting);
    return line;
}

std::string edge_table(const std::vector<EdgeState>& edges, int64_t now_ms) {
    std::vector<EdgeState> sorted = edges;
    std::sort(sorted.begin(), sorted.end(), [](const EdgeState& a, const EdgeState& b) { return a.key() < b.key(); });
    std::vector<std::vector<std::string>> rows{{"EDGE", "ONLINE", "REVISION", "HEALTH", "LAST APPLY", "SEEN"}};
    for (const auto& e : sorted) {
        std::string revision = std::to_string(e.revision);
        if (e.desired_revision && *e.desired_revision != e.revision) {
            revision += fmt::format(" (desired {})", *e.desired_revision);
        }
        std::string last = "-";
        if (!e.last_apply_result.empty()) {
            last = e.last_apply_revision ? fmt::format("{} {}", *e.last_apply_revision, e.last_apply_result)
                                         : e.last_apply_result;
            if (!e.last_apply_reason.empty()) last += ": " + e.last_apply_reason;
        }
        rows.push_back({e.key(), e.online ? "yes" : "no", revision, e.health ? std::to_string(*e.health) : "-", last,
                        e.ts ? age_text(now_ms - e.ts) : "-"});
    }
    return table(rows) + fmt::format("{} edges, {} online\n", sorted.size(),
                                     std::count_if(sorted.begin(), sorted.end(), [](const EdgeState& e) { return e.online; }));
}

}  // namespace ib::fleet_ctl
