// Runs the rule-engine cases under tests/rules/ (one GoogleTest per case). A
// case file holds one or more cases:
//
//   rule SELECT avg(values.t) AS a FROM "ib/data/+/fast" GROUP BY TumblingWindow(ss, 5)
//   option event_time ts            (and: option late_tolerance_ms 1000)
//   input ib/data/plc1/fast {"values":{"t":10}}
//   input @4000 ib/data/plc1/fast {"values":{"t":20}}   (@: the clock moves to 4000 ms first)
//   clock 10000                     (time passes: due windows close)
//   ----
//   {"a":15}                        (the rows emitted, in order; at the end every time window closes)
//   counters in=2 filtered=0 errors.type=0 late=0 last_error=<the rest of the line>   (optional)
//   error 1:8: unknown function ...  (instead of rows: the rule must be refused with this error)
//
// Lines starting with '#' and blank lines are ignored. The clock starts at 0.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "rules/rule.hpp"

namespace {

struct Case {
    std::string file;
    int line = 0;
    std::string sql;
    ib::rules::RuleOptions options;
    std::vector<std::string> script;  // input / clock lines
    std::vector<std::string> expected_rows;
    std::vector<std::string> expected_counters;
    std::string expected_error;
    bool expect_error = false;
};

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == ' ' || s.back() == '\r' || s.back() == '\t')) s.pop_back();
    size_t i = 0;
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    return s.substr(i);
}

std::vector<Case> load(const std::filesystem::path& path) {
    std::vector<Case> cases;
    std::ifstream in(path);
    std::string line;
    int n = 0;
    bool expecting = false;
    while (std::getline(in, line)) {
        ++n;
        line = trim(line);
        if (line.empty() || line[0] == '#') continue;
        if (line.rfind("rule ", 0) == 0) {
            Case c;
            c.file = path.filename().string();
            c.line = n;
            c.sql = line.substr(5);
            cases.push_back(std::move(c));
            expecting = false;
            continue;
        }
        if (cases.empty()) continue;
        Case& c = cases.back();
        if (line == "----") {
            expecting = true;
        } else if (!expecting && line.rfind("  ", 0) != 0 && line.rfind("option ", 0) == 0) {
            std::istringstream words(line.substr(7));
            std::string key, value;
            words >> key >> value;
            if (key == "event_time") c.options.event_time_field = value;
            if (key == "late_tolerance_ms") c.options.late_tolerance_ms = std::stoll(value);
            if (key == "max_groups") c.options.max_groups = static_cast<uint32_t>(std::stoul(value));
        } else if (!expecting) {
            c.script.push_back(line);
        } else if (line.rfind("error ", 0) == 0) {
            c.expect_error = true;
            c.expected_error = line.substr(6);
        } else if (line.rfind("counters ", 0) == 0) {
            // last_error=<text> takes the rest of the line, spaces and all.
            std::string rest = line.substr(9);
            std::string message;
            if (auto at = rest.find("last_error="); at != std::string::npos) {
                message = rest.substr(at);
                rest = rest.substr(0, at);
            }
            std::istringstream words(rest);
            std::string w;
            while (words >> w) c.expected_counters.push_back(w);
            if (!message.empty()) c.expected_counters.push_back(message);
        } else {
            c.expected_rows.push_back(line);
        }
    }
    return cases;
}

std::string counter_value(const ib::rules::RuleCounters& k, const std::string& name) {
    if (name == "in") return std::to_string(k.in);
    if (name == "out") return std::to_string(k.out);
    if (name == "filtered") return std::to_string(k.filtered);
    if (name == "late") return std::to_string(k.late);
    if (name == "last_error") return k.last_error;
    for (int i = 0; i < ib::rules::kErrorKinds; ++i) {
        if (name == "errors." + std::string(ib::rules::rule_error_kind_name(i))) return std::to_string(k.errors[i]);
    }
    return "<unknown counter " + name + ">";
}

void run_case(const Case& c) {
    SCOPED_TRACE(c.file + ":" + std::to_string(c.line));
    auto rule = ib::rules::Rule::compile(c.sql, c.options);
    if (c.expect_error) {
        ASSERT_FALSE(rule.has_value()) << "the rule was accepted; expected: " << c.expected_error;
        EXPECT_EQ(rule.error(), c.expected_error);
        return;
    }
    ASSERT_TRUE(rule.has_value()) << rule.error();
    std::vector<std::string> rows;
    (*rule)->on_emit([&](const ib::rules::OutputRow& r) { rows.emplace_back(r.json); });
    int64_t clock = 0;
    for (const std::string& s : c.script) {
        if (s.rfind("clock ", 0) == 0) {
            clock = std::stoll(s.substr(6));
            (*rule)->on_time(clock);
        } else if (s.rfind("input ", 0) == 0) {
            std::string rest = s.substr(6);
            if (!rest.empty() && rest[0] == '@') {
                size_t sp = rest.find(' ');
                clock = std::stoll(rest.substr(1, sp - 1));
                rest = rest.substr(sp + 1);
            }
            size_t sp = rest.find(' ');
            std::string topic = rest.substr(0, sp);
            std::string payload = sp == std::string::npos ? "" : rest.substr(sp + 1);
            (*rule)->on_message(topic, std::as_bytes(std::span(payload.data(), payload.size())), clock);
        } else {
            FAIL() << "unknown line: " << s;
        }
    }
    (*rule)->flush();
    EXPECT_EQ(rows, c.expected_rows);
    for (const std::string& kv : c.expected_counters) {
        size_t eq = kv.find('=');
        std::string name = kv.substr(0, eq);
        EXPECT_EQ(counter_value((*rule)->counters(), name), kv.substr(eq + 1)) << "counter " << name;
    }
}

class RuleCase : public ::testing::Test {
public:
    explicit RuleCase(Case c) : c_(std::move(c)) {}
    void TestBody() override { run_case(c_); }

private:
    Case c_;
};

std::string test_name(const Case& c) {
    std::string n = c.file.substr(0, c.file.find('.')) + "_line" + std::to_string(c.line);
    std::replace_if(n.begin(), n.end(), [](char ch) { return !std::isalnum(static_cast<unsigned char>(ch)) && ch != '_'; }, '_');
    return n;
}

const bool registered = [] {
    std::filesystem::path dir = std::filesystem::path(IB_SOURCE_DIR) / "tests" / "rules";
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
        if (entry.path().extension() == ".test") files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
        for (Case& c : load(f)) {
            std::string name = test_name(c);
            std::string file = f.string();
            int line = c.line;
            ::testing::RegisterTest("RuleCases", name.c_str(), nullptr, nullptr, file.c_str(), line,
                                    [c = std::move(c)]() -> ::testing::Test* { return new RuleCase(c); });
        }
    }
    return true;
}();

TEST(RuleCases, TheCaseDirectoryHasCases) {
    EXPECT_TRUE(registered);
    EXPECT_TRUE(std::filesystem::exists(std::filesystem::path(IB_SOURCE_DIR) / "tests" / "rules" / "window"));
}

}  // namespace
