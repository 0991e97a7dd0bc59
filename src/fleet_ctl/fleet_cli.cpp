#include "fleet_ctl/fleet_cli.hpp"

#include <CLI/CLI.hpp>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>

#include "core/log.hpp"
#include "fleet_ctl/fleet_report.hpp"
#include "fleet_ctl/fleet_requests.hpp"
#include "fleet_ctl/fleet_template.hpp"

namespace ib::fleet_ctl {

namespace {

using Clock = std::chrono::steady_clock;

int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

int fail(const std::string& message) {
    std::fprintf(stderr, "ironbridge fleet: %s\n", message.c_str());
    return kFleetNotSent;
}

std::string random_tag() {
    std::random_device rd;
    char buf[9];
    std::snprintf(buf, sizeof buf, "%08x", rd());
    return buf;
}

std::expected<std::string, std::string> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::unexpected(path + ": cannot read the file");
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::expected<std::unique_ptr<FleetSession>, std::string> connect(FleetOptions& o) {
    if (auto ok = parse_broker_address(o.broker, o.connection); !ok) return std::unexpected(ok.error());
    auto session = std::make_unique<FleetSession>(o.connection);
    return session;
}

// Waits for every request's final phase (AnswerTracker); draws the progress
// bar on stderr.
void wait_for_answers(FleetSession& session, std::vector<Request>& requests, std::optional<int64_t> push_revision,
                      int timeout_s) {
    AnswerTracker tracker(requests, session.reply_topic(), push_revision);
    const bool tty = isatty(STDERR_FILENO);
    session.on_message([&](const Incoming& in) {
        Request* r = tracker.take(in.topic, in.payload, in.correlation);
        if (r && r->result.final() && !tty) {
            std::fprintf(stderr, "%s: %s%s%s\n", r->result.key.c_str(), r->result.phase.c_str(),
                         r->result.code.empty() ? "" : " ", r->result.code.c_str());
        }
    });
    std::vector<EdgeResult> snapshot;
    auto results = [&] {
        snapshot.clear();
        for (const auto& r : requests) snapshot.push_back(r.result);
        return snapshot;
    };
    auto draw = [&] {
        if (tty) std::fprintf(stderr, "\r%s ", progress_line(results()).c_str());
    };
    session.run_until([&] { return tracker.all_final(); }, Clock::now() + std::chrono::seconds(timeout_s), draw);
    draw();
    if (tty) std::fprintf(stderr, "\n");
    tracker.time_out(timeout_s);
}

int print_results(const std::vector<Request>& requests) {
    std::vector<EdgeResult> results;
    for (const auto& r : requests) results.push_back(r.result);
    std::printf("%s", result_table(results).c_str());
    return exit_code_of(results) == 0 ? kFleetOk : kFleetEdgeFailed;
}

int64_t next_revision(const FleetSession& session) { return session.highest_revision() + 1; }

struct Prepared {
    std::unique_ptr<FleetSession> session;
    std::vector<Request> requests;
    int64_t revision = 0;
};

// push and diff alike: parameters, session, targets, template filled, revision.
std::expected<Prepared, std::string> prepare(FleetOptions& o) {
    auto text = read_file(o.template_path);
    if (!text) return std::unexpected(text.error());
    std::vector<EdgeParams> params;
    if (!o.params_path.empty()) {
        auto loaded = load_params(o.params_path);
        if (!loaded) return std::unexpected(loaded.error());
        params = std::move(*loaded);
    }
    if (o.targets.empty()) return std::unexpected("--targets: give at least one pattern (e.g. '*/*' for every edge)");
    if (auto t = Targets::parse(o.targets); !t) return std::unexpected(t.error());
    auto session = connect(o);
    if (!session) return std::unexpected(session.error());
    if (auto ok = (*session)->open(std::chrono::seconds(o.connect_timeout_s)); !ok) return std::unexpected(ok.error());
    auto edges = targeted((*session)->edges(), o.targets, o.connection.root, &params);
    if (!edges) return std::unexpected(edges.error());
    auto requests = fill_for(*edges, *text, params);
    if (!requests) return std::unexpected(requests.error());
    Prepared p;
    p.revision = o.revision.value_or(next_revision(**session));
    if (p.revision <= 0) return std::unexpected("--revision: a positive number");
    p.session = std::move(*session);
    p.requests = std::move(*requests);
    return p;
}

SendOptions send_options(const FleetOptions& o, int64_t revision) {
    return SendOptions{revision, o.base, o.sign_key, random_tag()};
}

void publish_all(FleetSession& session, const std::vector<Outgoing>& messages) {
    for (const auto& m : messages) session.publish(m.topic, m.payload, m.retain, m.correlation);
}

int run_push(FleetOptions& o) {
    auto p = prepare(o);
    if (!p) return fail(p.error());
    auto messages = push_messages(p->requests, send_options(o, p->revision));
    if (!messages) return fail(messages.error());
    std::fprintf(stderr, "pushing revision %lld to %zu edges\n", static_cast<long long>(p->revision),
                 p->requests.size());
    publish_all(*p->session, *messages);
    wait_for_answers(*p->session, p->requests, p->revision, o.timeout_s);
    if (!p->session->close(std::chrono::seconds(5))) {
        std::fprintf(stderr, "ironbridge fleet: the broker did not acknowledge every desired configuration\n");
    }
    return print_results(p->requests);
}

int run_diff(FleetOptions& o) {
    auto p = prepare(o);
    if (!p) return fail(p.error());
    auto messages = dry_run_messages(p->requests, send_options(o, p->revision));
    if (!messages) return fail(messages.error());
    publish_all(*p->session, *messages);
    wait_for_answers(*p->session, p->requests, std::nullopt, o.timeout_s);
    p->session->close(std::chrono::seconds(5));
    summarize_dry_run(p->requests);
    return print_results(p->requests);
}

int run_rollback(FleetOptions& o) {
    if (o.rollback_to <= 0) return fail("--to: the revision to go back to (a positive number)");
    if (o.targets.empty()) return fail("--targets: give at least one pattern");
    if (auto t = Targets::parse(o.targets); !t) return fail(t.error());
    auto session = connect(o);
    if (!session) return fail(session.error());
    if (auto ok = (*session)->open(std::chrono::seconds(o.connect_timeout_s)); !ok) return fail(ok.error());
    auto edges = targeted((*session)->edges(), o.targets, o.connection.root, nullptr);
    if (!edges) return fail(edges.error());
    std::vector<Request> requests;
    publish_all(**session, rollback_messages(*edges, o.rollback_to, random_tag(), requests));
    wait_for_answers(**session, requests, std::nullopt, o.timeout_s);
    (*session)->close(std::chrono::seconds(5));
    return print_results(requests);
}

int run_list(FleetOptions& o, bool with_status) {
    auto session = connect(o);
    if (!session) return fail(session.error());
    std::map<std::string, Progress> statuses;  // by status topic
    (*session)->on_message([&](const Incoming& in) {
        if (!in.topic.ends_with("/status")) return;
        if (auto p = parse_progress(in.payload)) statuses[in.topic] = std::move(*p);
    });
    if (auto ok = (*session)->open(std::chrono::seconds(o.connect_timeout_s)); !ok) return fail(ok.error());
    std::vector<EdgeState> edges;
    for (const auto& [_, e] : (*session)->edges()) {
        if (o.targets.empty()) {
            edges.push_back(e);
            continue;
        }
        auto t = Targets::parse(o.targets);
        if (!t) return fail(t.error());
        if (t->matches(e)) edges.push_back(e);
    }
    (*session)->close(std::chrono::seconds(1));
    if (edges.empty()) {
        std::printf("no edge has published its state under %s/+/+/state\n", o.connection.root.c_str());
        return kFleetOk;
    }
    std::printf("%s", edge_table(edges, now_ms()).c_str());
    if (!with_status) return kFleetOk;
    std::vector<EdgeResult> last;
    for (const auto& e : edges) {
        EdgeResult r;
        r.key = e.key();
        r.phase = "-";
        if (auto it = statuses.find(e.prefix + "status"); it != statuses.end()) {
            r.phase = it->second.phase;
            r.code = it->second.code;
            r.message = it->second.message();
            if (it->second.revision) r.message = "revision " + std::to_string(*it->second.revision) +
                                                 (r.message.empty() ? "" : ": " + r.message);
        }
        last.push_back(std::move(r));
    }
    std::sort(last.begin(), last.end(), [](const EdgeResult& a, const EdgeResult& b) { return a.key < b.key; });
    std::printf("\nLast status of each edge:\n%s", result_table(last).c_str());
    return kFleetOk;
}

int run_capture(FleetOptions& o) {
    auto session = connect(o);
    if (!session) return fail(session.error());
    if (auto ok = (*session)->open(std::chrono::seconds(o.connect_timeout_s)); !ok) return fail(ok.error());
    // EDGE is site/edge, or an edge id that names one edge.
    std::vector<EdgeState> found;
    for (const auto& [key, e] : (*session)->edges()) {
        if (key == o.capture_edge || e.edge == o.capture_edge) found.push_back(e);
    }
    if (found.empty()) return fail("no edge '" + o.capture_edge + "' (ironbridge fleet list shows them)");
    if (found.size() > 1) return fail("'" + o.capture_edge + "' names several edges: give site/edge");
    std::vector<Request> requests(1);
    Request& r = requests[0];
    r.edge = found[0];
    r.result.key = r.edge.key();
    r.correlation = "capture-" + random_tag();
    Command c;
    c.id = r.correlation;
    c.op = "capture";
    (*session)->publish(r.edge.prefix + "cmd", command_json(c), false, r.correlation);
    wait_for_answers(**session, requests, std::nullopt, o.timeout_s);
    (*session)->close(std::chrono::seconds(1));
    if (r.result.phase != "done" || r.last.config.empty()) {
        std::fprintf(stderr, "ironbridge fleet capture: %s: %s %s %s\n", r.result.key.c_str(), r.result.phase.c_str(),
                     r.result.code.c_str(), r.result.message.c_str());
        return kFleetEdgeFailed;
    }
    std::printf("%s", template_of_capture(r.last.config, r.edge.edge, r.edge.site).c_str());
    if (!r.last.config.ends_with('\n')) std::printf("\n");
    return kFleetOk;
}

}  // namespace

void add_fleet_options(CLI::App& fleet, FleetOptions& o) {
    fleet.require_subcommand(1);
    // The broker's options may come after the subcommand too (`fleet push ... --timeout 60`).
    fleet.fallthrough();
    fleet.add_option("--broker", o.broker, "The cloud broker, HOST[:PORT]")->capture_default_str();
    fleet.add_option("--username", o.connection.username, "MQTT user name");
    fleet.add_option("--password", o.connection.password, "MQTT password");
    fleet.add_flag("--tls", o.connection.tls, "Connect over TLS (port 8883 by default)");
    fleet.add_option("--ca", o.connection.ca_file, "PEM file of the CA(s) the broker's certificate chains to");
    fleet.add_option("--root", o.connection.root, "Topic root of the fleet")->capture_default_str();
    fleet.add_option("--timeout", o.timeout_s, "Seconds to wait for every edge's final answer")->capture_default_str();

    fleet.add_subcommand("list", "Edges, online, revision, health, last apply (from their retained state)")
        ->add_option("--targets", o.targets, "Only these edges: site/edge glob, edge glob or label=value")
        ->expected(1)
        ->allow_extra_args(false)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    fleet.add_subcommand("status", "The list, and each edge's last progress report")
        ->add_option("--targets", o.targets, "Only these edges")
        ->expected(1)
        ->allow_extra_args(false)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);

    auto targets_option = [&](CLI::App* c) {
        c->add_option("--targets", o.targets,
                      "site/edge glob (lyon/*), edge glob (press-*), label=value; comma: all must hold; repeat: any")
            ->required()
            // One value per --targets, so a positional after it stays the template.
            ->expected(1)
            ->allow_extra_args(false)
            ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    };
    for (const auto& [name, help] : {std::pair{"push", "Publish a template filled per edge as its desired configuration"},
                                     std::pair{"diff", "Dry-run a push: each edge answers what would change"}}) {
        CLI::App* c = fleet.add_subcommand(name, help);
        c->add_option("template", o.template_path, "A configuration file with ${param} placeholders")->required();
        c->add_option("--params", o.params_path, "Parameters per edge: CSV (edge,site,...) or TOML ([[edges]])");
        targets_option(c);
        c->add_option("--revision", o.revision, "Revision number (default: the largest known + 1)");
        c->add_option("--base", o.base, "Revision the change is made against: auto (each edge's), N or none")
            ->capture_default_str();
        c->add_option("--sign", o.sign_key, "Ed25519 private key (PEM) to sign the configuration with");
    }
    CLI::App* rollback = fleet.add_subcommand("rollback", "Apply a kept revision again on each edge");
    rollback->add_option("--to", o.rollback_to, "The revision")->required();
    targets_option(rollback);
    fleet.add_subcommand("capture", "Print an edge's running configuration as a template (${edge}, ${site})")
        ->add_option("edge", o.capture_edge, "site/edge, or an edge id")
        ->required();
}

int run_fleet(CLI::App& app, FleetOptions& o) {
    CLI::App* fleet = app.get_subcommand("fleet");
    // stdout carries the tables and capture's template (redirected to a file):
    // the link's log lines would land in it, and its failures come back as
    // errors anyway.
    log::set_level("off");
    if (fleet->got_subcommand("list")) return run_list(o, false);
    if (fleet->got_subcommand("status")) return run_list(o, true);
    if (fleet->got_subcommand("push")) return run_push(o);
    if (fleet->got_subcommand("diff")) return run_diff(o);
    if (fleet->got_subcommand("rollback")) return run_rollback(o);
    if (fleet->got_subcommand("capture")) {
        if (o.timeout_s == 180) o.timeout_s = 30;  // one answer, no probe to wait for
        return run_capture(o);
    }
    return fail("give a subcommand: list, status, push, diff, rollback, capture");
}

}  // namespace ib::fleet_ctl
