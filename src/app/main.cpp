// The ironbridge command: run a node, check a config file, print the version,
// or generate load. The only place that includes every module and wires them.
#include <utility>  // before Asio: Boost 1.74 coroutine headers need it

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "api/access_control.hpp"
#include "api/event_streams.hpp"
#include "api/http_server.hpp"
#include "api/prometheus.hpp"
#include "api/static_files.hpp"
#include "bridge/bridge.hpp"
#include "bridge/bridge_settings.hpp"
#include "app/audit_routes.hpp"
#include "app/bridge_routes.hpp"
#include "app/console_routes.hpp"
#include "app/device_routes.hpp"
#include "app/file_routes.hpp"
#include "app/fleet_controller_routes.hpp"
#include "app/fleet_wiring.hpp"
#include "app/heap_trim.hpp"
#include "app/history_routes.hpp"
#include "app/inspect_cli.hpp"
#include "app/inspector.hpp"
#include "app/mqtt_routes.hpp"
#include "app/node_identity.hpp"
#include "app/opcua_routes.hpp"
#include "app/rule_routes.hpp"
#include "app/passwd.hpp"
#include "app/placement.hpp"
#include "app/probe_routes.hpp"
#include "app/service_notify.hpp"
#include "app/sparkplug_wiring.hpp"
#include "auth/auth.hpp"
#include "auth/password_hash.hpp"
#include "config/loader.hpp"
#include "core/bus.hpp"
#include "core/log.hpp"
#include "drivers/device_manager.hpp"
#include "drivers/device_settings.hpp"
#include "drivers/modbus/modbus_address.hpp"
#include "drivers/modbus/modbus_driver.hpp"
#include "drivers/opcua/opcua_driver.hpp"
#include "drivers/sim/sim_driver.hpp"
#include "drivers/sim/sim_signal.hpp"
#include "files/file_transfer.hpp"
#include "fleet/fleet_settings.hpp"
#include "fleet_ctl/fleet_cli.hpp"
#include "mqtt/broker/broker.hpp"
#include "net/loop_pool.hpp"
#include "rules/rule_engine.hpp"
#include "rules/rule_settings.hpp"
#include "sparkplug/sparkplug_settings.hpp"
#include "store/audit_log.hpp"
#include "store/history.hpp"
#include "store/object_store.hpp"
#include "store/session_store.hpp"
#include "store/sqlite_file.hpp"
#include "tools/bench.hpp"

namespace {

constexpr const char* kVersion = IB_VERSION;

int fail_start(const std::string& message) {
    std::fprintf(stderr, "ironbridge: %s\n", message.c_str());
    return 1;
}

// Makes each device's driver; OPC UA keeps its certificates under data_dir/pki.
ib::drivers::DriverFactory driver_factory(std::string data_dir) {
    return [pki_dir = data_dir + "/pki"](boost::asio::io_context& io, const ib::drivers::DeviceConfig& config,
                                         ib::drivers::DriverEvents& events) -> std::unique_ptr<ib::drivers::Driver> {
        if (config.driver == ib::drivers::DriverKind::Sim) return ib::drivers::sim::make_sim_driver(io, config, events);
        if (config.driver == ib::drivers::DriverKind::OpcUa) {
            return ib::drivers::opcua::make_opcua_driver(io, config, events, pki_dir);
        }
        return ib::drivers::modbus::make_modbus_driver(io, config, events);
    };
}

// A tag's address, checked by its device's driver (as driver_factory picks it).
std::string check_tag_address(const ib::drivers::DeviceConfig& device, const ib::drivers::TagConfig& tag) {
    if (device.driver == ib::drivers::DriverKind::Sim) return ib::drivers::sim::check_tag_address(device, tag);
    if (device.driver == ib::drivers::DriverKind::OpcUa) return ib::drivers::opcua::check_tag_address(device, tag);
    return ib::drivers::modbus::check_tag_address(device, tag);
}

// The arrays of tables of the file that modules read with their own key tables
// (tags checked by their driver, rules' SQL compiled): the loader gets them from
// here, so config includes none of these modules. Their order is the docs'.
struct ModuleTables {
    std::vector<ib::drivers::DeviceConfig> devices;
    std::vector<ib::bridge::BridgeConfig> bridges;
    std::vector<ib::rules::RuleConfig> rules;
    ib::sparkplug::SparkplugConfig sparkplug;
    ib::fleet::FleetConfig fleet;
    ib::fleet_ctl::ControllerConfig fleet_controller;

    std::array<ib::config::TableList, 6> lists() {
        return {ib::drivers::device_tables(devices, check_tag_address), ib::bridge::bridge_tables(bridges),
                ib::rules::rule_tables(rules), ib::sparkplug::sparkplug_tables(sparkplug), ib::fleet::fleet_table(fleet),
                ib::fleet_ctl::controller_table(fleet_controller)};
    }
};

std::expected<ib::config::NodeConfig, std::string> load(const std::string& path, ModuleTables& modules) {
    const auto lists = modules.lists();
    if (path.empty()) {
        return ib::config::load_config_string(ib::config::embedded_default_toml(), "<embedded default>", lists);
    }
    return ib::config::load_config_file(path, lists);
}

// Devices created through the API in an earlier run. One that no longer passes
// the checks (an upgrade tightened them) is skipped with the reason, not fatal.
std::vector<ib::drivers::DeviceConfig> stored_devices(ib::store::ObjectStore& store) {
    std::vector<ib::drivers::DeviceConfig> out;
    auto rows = store.list("device");
    if (!rows) {
        ib::log::error("devices: cannot read stored devices: {}", rows.error());
        return out;
    }
    for (auto& [name, json] : *rows) {
        auto device = ib::drivers::device_from_json(json, check_tag_address);
        if (device) out.push_back(std::move(*device));
        else ib::log::error("devices: stored device '{}' skipped: {}", name, device.error());
    }
    return out;
}

// Rules created through the API in an earlier run; as for devices, one that no
// longer passes the checks is skipped with the reason.
std::vector<ib::rules::RuleConfig> stored_rules(ib::store::ObjectStore& store) {
    std::vector<ib::rules::RuleConfig> out;
    auto rows = store.list("rule");
    if (!rows) {
        ib::log::error("rules: cannot read stored rules: {}", rows.error());
        return out;
    }
    for (auto& [id, json] : *rows) {
        auto rule = ib::rules::rule_from_json(json);
        if (rule) out.push_back(std::move(*rule));
        else ib::log::error("rules: stored rule '{}' skipped: {}", id, rule.error());
    }
    return out;
}

// The broker's anonymous settings travel with the rest of the auth rules, so a
// reload changes them together.
ib::auth::AuthConfig auth_config_of(const ib::config::NodeConfig& cfg) {
    ib::auth::AuthConfig a = cfg.auth;
    a.allow_anonymous = cfg.broker.allow_anonymous;
    for (const auto& l : cfg.broker.listeners) {
        if (l.allow_anonymous) a.listener_anonymous.emplace_back(l.name, *l.allow_anonymous);
    }
    return a;
}

int run_node(const std::string& config_path) {
    const auto started = std::chrono::steady_clock::now();
    ModuleTables modules;
    auto cfg = load(config_path, modules);
    if (!cfg) {
        std::fprintf(stderr, "%s\nironbridge: configuration refused, nothing started\n", cfg.error().c_str());
        return 2;
    }
    ib::log::set_format(cfg->log.format);
    // The console's Logs page reads the last lines from memory.
    ib::log::keep_recent_lines(1000);
    ib::log::set_level(cfg->log.level);

    std::error_code fs_ec;
    std::filesystem::create_directories(cfg->data_dir, fs_ec);
    if (fs_ec) return fail_start("cannot create data_dir '" + cfg->data_dir + "': " + fs_ec.message());

    auto store = ib::store::ObjectStore::open(cfg->data_dir + "/ironbridge.db");
    if (!store) return fail_start("cannot open the data store: " + store.error());
    if (!(*store)->recovered_from().empty()) {
        ib::log::error("data store was unreadable and has been moved aside to {}; starting with an empty one",
                       (*store)->recovered_from());
    }

    // The fleet's revision in force (fleet.db) goes over the file's objects.
    auto fleet = ib::app::FleetWiring::open(modules.fleet, cfg->data_dir, check_tag_address);
    if (!fleet) return fail_start(fleet.error());
    auto stored_device_list = stored_devices(**store);
    auto stored_rule_list = stored_rules(**store);
    auto node_auth = auth_config_of(*cfg);
    if (*fleet) (*fleet)->overlay(modules.devices, stored_device_list, modules.rules, stored_rule_list, modules.bridges, node_auth);
    auto auth = ib::auth::Auth::create(node_auth);
    if (!auth) {
        std::fprintf(stderr, "%s\nironbridge: configuration refused, nothing started\n", auth.error().c_str());
        return 2;
    }
    // Users, ACL and API credentials; everything else needs a restart. A reload
    // that fails keeps the rules in force and says why.
    auto reload = [&config_path, &auth, &fleet]() -> std::expected<void, std::string> {
        ModuleTables fresh_modules;
        auto fresh = load(config_path, fresh_modules);
        if (!fresh) {
            (*auth)->count_refused_reload();
            return std::unexpected(fresh.error());
        }
        auto fresh_auth = auth_config_of(*fresh);
        if (*fleet) (*fleet)->overlay_auth(fresh_auth);
        return (*auth)->reload(fresh_auth);
    };

    // The placement table: which loop runs what. Each component below is handed
    // its loop from it, and nowhere else.
    const std::size_t cores = ib::app::usable_cores();
    const auto placement = ib::app::plan_placement(cfg->broker.threads, cfg->service_loops, cores);
    ib::net::LoopPool loops(placement.total());
    auto loop_of = [&](ib::app::Role role) -> boost::asio::io_context& { return loops.loop(placement.loop(role)); };
    auto& devices_loop = loop_of(ib::app::Role::Devices);
    auto& rules_loop = loop_of(ib::app::Role::Rules);
    auto& bridges_loop = loop_of(ib::app::Role::Bridges);
    auto& history_loop = loop_of(ib::app::Role::History);
    auto& api_loop = loop_of(ib::app::Role::Api);
    std::vector<boost::asio::io_context*> every_loop;
    for (std::size_t i = 0; i < loops.size(); ++i) every_loop.push_back(&loops.loop(i));
    std::atomic<ib::app::Readiness> readiness{ib::app::Readiness::Starting};
    // Before the broker, which uses it until it is destroyed; the broker loads
    // it in start() and reports a file moved aside.
    std::unique_ptr<ib::store::SessionStore> session_store;
    if (cfg->broker.persistence) {
        auto s = ib::store::SessionStore::open(cfg->data_dir + "/sessions.db");
        if (!s) return fail_start("cannot open the session store: " + s.error());
        session_store = std::move(*s);
    }
    // MQTT file transfer: declared before the broker, which hands it `$file/`
    // commands until it is destroyed.
    std::unique_ptr<ib::files::FileTransferService> files;
    ib::mqtt::broker::Broker broker(cfg->broker, loops, kVersion, placement.shards);
    broker.set_auth(auth->get());
    if (cfg->files.enabled) {
        if (auto r = ib::app::start_file_transfer(*cfg, modules.bridges, broker, api_loop, files); !r) return fail_start(r.error());
    }
    if (session_store) broker.set_persistence(session_store.get());
    if (auto r = broker.start(); !r) return fail_start(r.error());

    ib::drivers::DeviceManager::Persistence persistence{
        [&store](const ib::drivers::DeviceConfig& d) {
            return (*store)->put("device", d.name, ib::drivers::device_to_json(d));
        },
        [&store](std::string_view name) { return (*store)->remove("device", name); },
    };
    // The bus's topics under bus.prefix, for every module that publishes or reads them.
    const ib::BusTopics bus(cfg->bus.prefix);
    if (cfg->history.topic.empty()) cfg->history.topic = bus.data_filter();
    ib::drivers::DeviceManager devices(devices_loop, driver_factory(cfg->data_dir), check_tag_address, broker.router(), bus,
                                       persistence);
    if (auto r = devices.start(std::move(modules.devices), std::move(stored_device_list)); !r) return fail_start(r.error());

    // The history answers queries on its loop too, so its store needs no lock;
    // history.db is created at the first reading.
    std::unique_ptr<ib::store::History> history;
    if (cfg->history.enabled) {
        auto h = ib::store::History::open(cfg->data_dir + "/history.db", cfg->history);
        if (!h) return fail_start("cannot open the history: " + h.error());
        history = std::move(*h);
        if (!history->recovered_from().empty()) {
            ib::log::error("history was unreadable and has been moved aside to {}; starting with an empty one",
                           history->recovered_from());
        }
        if (auto r = history->start(history_loop, broker.router()); !r) return fail_start(r.error());
    }

    auto node = ib::app::node_identity(modules.fleet, cfg->data_dir);
    if (!node) return fail_start(node.error());
    std::vector<std::unique_ptr<ib::bridge::Bridge>> bridges;
    bool push_back = false;
    for (auto& b : modules.bridges) {
        push_back = push_back || b.queue_full == ib::bridge::QueueFullPolicy::PushBack;
        bridges.push_back(
            std::make_unique<ib::bridge::Bridge>(bridges_loop, std::move(b), broker.router(), cfg->data_dir, *node));
        if (auto r = bridges.back()->start(); !r) return fail_start(r.error());
    }
    // The list is the bridges loop's; a fleet revision may change it there.
    if (files) {
        files->set_on_queued([&bridges, &bridges_loop] {
            boost::asio::post(bridges_loop, [&bridges] {
                for (auto& b : bridges) b->files_queued();
            });
        });
    }
    // A push-back bridge with a full queue keeps publishers' acknowledgements back.
    // The shards read the list under `bridges_mutex`, which the fleet holds while
    // it changes the list (a revision may bring a push-back bridge).
    std::mutex bridges_mutex;
    if (push_back || modules.fleet.active()) {
        broker.router().set_durable_gate([&bridges, &bridges_mutex] {
            std::lock_guard lock(bridges_mutex);
            for (const auto& b : bridges) {
                if (b->holding_back()) return false;
            }
            return true;
        });
    }

    auto sparkplug = ib::app::start_sparkplug(modules.sparkplug, bridges_loop, broker.router(), bus, devices, bridges,
                                              cfg->data_dir);
    if (!sparkplug) return fail_start(sparkplug.error());

    ib::rules::RuleEngine::Persistence rule_persistence{
        [&store](const ib::rules::RuleConfig& r) { return (*store)->put("rule", r.id, ib::rules::rule_to_json(r)); },
        [&store](std::string_view id) { return (*store)->remove("rule", id); },
    };
    ib::rules::RuleEngine rules(rules_loop, broker.router(), bus, rule_persistence, cfg->data_dir);
    if (auto r = rules.start(std::move(modules.rules), std::move(stored_rule_list)); !r) return fail_start(r.error());
    // Made with the API below; the fleet's state reads its score from any thread.
    std::unique_ptr<ib::app::Inspector> inspector;
    if (*fleet) {
        (*fleet)->start_managed(devices, rules);
        ib::fleet::FleetTargets targets{&devices_loop, &devices, &rules_loop, &rules, &bridges, &bridges_mutex, &broker.router(),
                                        cfg->data_dir, auth->get(), [node_auth] { return node_auth; }, check_tag_address,
                                        *node, ib::app::file_bridges_follow(files.get())};
        // The state's health score and the `inspect` command: the inspector's last report (made below, with the API).
        ib::fleet::FleetHooks hooks{[&inspector] { return inspector ? inspector->last_score() : std::nullopt; },
                                    [&inspector] { return inspector ? inspector->last_json() : std::nullopt; },
                                    ib::app::drift_hook(inspector)};
        if (auto r = (*fleet)->start_agent(bridges_loop, std::move(targets), kVersion, std::move(hooks)); !r) {
            return fail_start(r.error());
        }
    }

    // Both outlive the server, whose routes and sessions use them.
    std::unique_ptr<ib::fleet_ctl::FleetService> fleet_controller;  // its routes too
    std::unique_ptr<ib::store::AuditLog> audit;
    std::unique_ptr<ib::api::AccessControl> access;
    std::unique_ptr<ib::api::HttpServer> http;
    std::unique_ptr<ib::api::EventStreams> events;
    if (cfg->api.enabled) {
        // Opened on its writer thread: creating audit.db costs fdatasyncs that the
        // API's listening need not wait for; changes audited meanwhile queue behind it.
        audit = ib::store::AuditLog::open_in_background(cfg->data_dir + "/audit.db",
                                                         {cfg->api.audit_max_rows, cfg->api.audit_max_bytes});
        access = std::make_unique<ib::api::AccessControl>(
            **auth, api_loop, ib::api::SessionLimits{cfg->api.session_ttl, cfg->api.session_idle, cfg->api.max_sessions},
            !cfg->api.tls_cert.empty());
        http = std::make_unique<ib::api::HttpServer>(api_loop, cfg->api);
        http->set_version(kVersion);
        http->add_metrics([&broker](ib::MetricSink& sink) { broker.collect_metrics(sink); });
        http->add_metrics([&auth](ib::MetricSink& sink) { (*auth)->collect_metrics(sink); });
        http->add_metrics([&access](ib::MetricSink& sink) { access->collect_metrics(sink); });
        http->set_authenticator([&access](const ib::api::HttpRequest& r) { return access->authenticate(r); });
        access->add_routes(*http);
        ib::app::add_audit_routes(*http, *audit, api_loop);
        http->add_metrics([&cfg](ib::MetricSink& sink) { ib::api::collect_disk_metrics(cfg->data_dir, sink); });
        http->route("POST", "/api/v1/reload", [&reload](const ib::api::HttpRequest&) {
            if (auto r = reload(); !r) {
                ib::log::error("reload refused, the rules in force are kept:\n{}", r.error());
                return ib::api::json_error(400, "reload refused, the rules in force are kept: " + r.error());
            }
            ib::log::info("reload: users, ACL and API credentials reloaded");
            ib::api::HttpResponse ok;
            ok.body = R"({"reloaded":["users","acl","api credentials"]})";
            return ok;
        });
        if (session_store) {
            http->add_metrics([&session_store](ib::MetricSink& sink) { session_store->collect_metrics(sink); });
        }
        // Each module's routes and metrics run on the module's loop.
        http->add_metrics([&devices](ib::MetricSink& sink) { devices.collect_metrics(sink); }, &devices_loop);
        ib::app::add_device_routes(*http, devices, devices_loop);
        ib::app::add_bridge_routes(*http, bridges, bridges_loop);
        ib::app::add_rule_routes(*http, rules, rules_loop);
        if (*fleet) (*fleet)->add_routes(*http, bridges_loop);
        ib::app::add_opcua_routes(*http, cfg->data_dir + "/pki", devices_loop);
        if (files) {
            ib::app::add_file_routes(*http, *files, api_loop);
            http->add_metrics([&files](ib::MetricSink& sink) { files->collect_metrics(sink); });
        }
        http->add_metrics([&rules](ib::MetricSink& sink) { rules.collect_metrics(sink); }, &rules_loop);
        http->add_metrics(
            [&bridges](ib::MetricSink& sink) {
                for (const auto& b : bridges) b->collect_metrics(sink);
            },
            &bridges_loop);
        ib::app::add_sparkplug_metrics(*http, sparkplug->get(), bridges_loop);
        if (history) {
            http->add_metrics([&history](ib::MetricSink& sink) { history->collect_metrics(sink); }, &history_loop);
            ib::app::add_history_routes(*http, *history, history_loop);
        }
        // The web console: its files, and the live events its pages follow.
        ib::api::add_static_routes(*http);
        ib::app::add_mqtt_routes(*http, broker, api_loop);
        ib::app::add_console_routes(*http, *cfg);
        events = std::make_unique<ib::api::EventStreams>(api_loop, broker.router(), *http);
        http->add_metrics([&events](ib::MetricSink& sink) { events->collect_metrics(sink); });
        ib::app::add_probe_routes(*http, {every_loop, &api_loop, &readiness, &bridges, &bridges_loop});
        inspector = ib::app::start_inspector(api_loop, *http, *cfg, bridges);
        auto controller = ib::app::start_fleet_controller(modules.fleet_controller, cfg->data_dir);
        if (!controller) return fail_start(controller.error());
        fleet_controller = std::move(*controller);
        if (fleet_controller) ib::app::add_fleet_controller_routes(*http, *fleet_controller, api_loop);
        auto port = http->start();
        if (!port) return fail_start(port.error());
        ib::log::info("api: listening on {}:{}", cfg->api.bind_address, *port);
    }

    boost::asio::signal_set hangup(api_loop, SIGHUP);
    std::function<void()> wait_hangup = [&] {
        hangup.async_wait([&](const boost::system::error_code& ec, int) {
            if (ec) return;
            if (auto r = reload(); !r) {
                ib::log::error("SIGHUP: reload refused, the rules in force are kept:\n{}", r.error());
            } else {
                ib::log::info("SIGHUP: users, ACL and API credentials reloaded");
            }
            wait_hangup();
        });
    };
    wait_hangup();

    auto service = ib::app::ServiceNotifier::from_environment();
    ib::app::Watchdog watchdog(service, api_loop, every_loop);

    // The first SIGTERM drains: readiness goes down, the listeners close, each
    // module stops on its loop (bridges commit their queues) and the process
    // exits 0. A second one exits at once: a message is acknowledged only once
    // it is on disk (durability tickets), so nothing acknowledged is lost.
    boost::asio::signal_set signals(api_loop, SIGINT, SIGTERM);
    signals.async_wait([&](const boost::system::error_code& ec, int signo) {
        if (ec) return;
        ib::log::info("ironbridge: signal {} received, shutting down", signo);
        if (events) events->stop();
        readiness.store(ib::app::Readiness::Draining, std::memory_order_release);
        service.notify("STOPPING=1");
        watchdog.stop();
        // A plain handler from here to the exit, also once the loops have
        // stopped (Asio's would be gone and the default action kill us).
        signals.clear();
        ib::app::exit_on_next_signal({SIGINT, SIGTERM});
        if (inspector) inspector->stop();
        if (http) http->stop();
        // With the API gone nothing orders it more; its thread would else hold the exit.
        if (fleet_controller) fleet_controller->stop();
        hangup.cancel();
        // The broker first: its listeners close, it stops reading from its
        // clients, sends the acknowledgements held for the bridges' disk
        // queues as their commits complete (up to BrokerCore::kAckDrainLimit)
        // and then disconnects the clients, so no client's message arrives
        // once the bridges have stopped taking them. Then, in this order, each on its own loop, the
        // modules; the bridges commit what they took.
        // Before all that, the fleet's offline state and the Sparkplug edge
        // node's NDEATH go out: their writes complete while the broker stops,
        // so the bridge's link says goodbye after them (else the cloud would
        // see the link's last will instead).
        ib::app::run_in_turn({{&bridges_loop, [&] { if (*fleet) (*fleet)->stop(); }}}, [&] {
            ib::app::stop_sparkplug_then(sparkplug->get(), bridges_loop, [&] { broker.stop([&] {
                ib::app::run_in_turn({{&rules_loop, [&] { rules.stop(); }},
                                      {&devices_loop, [&] { devices.stop(); }},
                                      {&bridges_loop, [&] { for (auto& b : bridges) b->stop(); }},
                                      {&history_loop, [&] { if (history) history->stop(); }},
                                      {&api_loop, [&] { if (files) files->stop(); }}},
                                     [&loops] { loops.stop(); });
            }); });
        });
    });

    const auto ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
    ib::log::info("ironbridge {} started in {:.1f} ms ({} event loops, config {})", kVersion, ms, loops.size(),
                  config_path.empty() ? "<embedded default>" : config_path);
    ib::log::info("loops: {} (for {} usable CPU core{})", placement.describe(), cores, cores == 1 ? "" : "s");
    ib::app::give_back_free_heap();  // the configuration's parse tree, freed but kept
    readiness.store(ib::app::Readiness::Ready, std::memory_order_release);
    service.notify("READY=1\nSTATUS=serving");
    loops.run();
    events.reset();
    http.reset();
    fleet->reset();  // its timers and bridges belong to the loops, which go next
    ib::log::info("ironbridge: stopped");
    return 0;
}

int check_config(const std::string& path) {
    ModuleTables modules;
    auto cfg = ib::config::load_config_file(path, modules.lists());
    if (!cfg) {
        std::fprintf(stderr, "%s\n", cfg.error().c_str());
        return 2;
    }
    std::printf("%s: configuration is valid\n", path.c_str());
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    ib::store::configure_sqlite_process();  // before any connection opens
    CLI::App app{"Ironbridge: industrial IoT edge platform (MQTT broker, collection, rules, store and forward)"};
    app.require_subcommand(1);

    // A subcommand gets its options only when it is the one asked for: CLI11 builds
    // every option's validators and help text as it is added, and those of all the
    // tools came to a tenth of the CPU time a node took from exec to its first
    // CONNACK. `ironbridge --help` lists them all the same, by name and summary.
    const std::string_view asked = argc > 1 ? argv[1] : "";
    auto subcommand = [&](const char* name, const char* summary, auto&& add_options) {
        CLI::App* cmd = app.add_subcommand(name, summary);
        if (asked == name) add_options(*cmd);
        return cmd;
    };

    std::string run_config;
    auto* run = subcommand("run", "Run the node (with no file: the embedded default)", [&](CLI::App& c) {
        c.add_option("-c,--config", run_config, "Configuration file (TOML)");
    });

    std::string check_path, check_flag_path;
    auto* check = subcommand("check-config", "Check a configuration file and exit", [&](CLI::App& c) {
        c.add_option("file", check_path, "Configuration file (TOML)");
        c.add_option("-c,--config", check_flag_path, "Configuration file (TOML), as for run");
    });

    auto* version = app.add_subcommand("version", "Print the version");

    std::string passwd_file, passwd_user;
    bool passwd_delete = false;
    uint32_t passwd_iterations = ib::auth::kDefaultIterations;
    auto* passwd = subcommand("passwd", "Add or change a user of a password file (-D deletes it)", [&](CLI::App& c) {
        c.add_option("file", passwd_file, "Password file (auth.password_file)")->required();
        c.add_option("user", passwd_user, "User name")->required();
        c.add_flag("-D,--delete", passwd_delete, "Delete the user");
        c.add_option("--iterations", passwd_iterations, "PBKDF2 iterations")
            ->check(CLI::Range(ib::auth::kMinIterations, ib::auth::kMaxIterations));
    });

    ib::tools::BenchOptions bench_opts;
    subcommand("bench", "MQTT load generator (loopback brokers only)",
               [&](CLI::App& c) { ib::tools::add_bench_options(c, bench_opts); });
    ib::app::InspectOptions inspect_opts;
    subcommand("inspect",
               "Print a running node's health inspection; exit 0 all pass, 1 a warning, 2 a failure, 3 unreachable",
               [&](CLI::App& c) { ib::app::add_inspect_options(c, inspect_opts); });
    ib::fleet_ctl::FleetOptions fleet_opts;
    subcommand("fleet", "Manage edges through the cloud broker (docs/fleet.md)",
               [&](CLI::App& c) { ib::fleet_ctl::add_fleet_options(c, fleet_opts); });

    CLI11_PARSE(app, argc, argv);

    if (run->parsed()) return run_node(run_config);
    if (check->parsed()) {
        if (check_path.empty()) check_path = check_flag_path;
        if (check_path.empty()) {
            std::fprintf(stderr, "ironbridge check-config: give the configuration file\n");
            return 2;
        }
        return check_config(check_path);
    }
    if (version->parsed()) {
        std::printf("ironbridge %s\n", kVersion);
        return 0;
    }
    if (passwd->parsed()) return ib::app::run_passwd(passwd_file, passwd_user, passwd_delete, passwd_iterations);
    if (app.got_subcommand("bench")) return ib::tools::run_bench(bench_opts);
    if (app.got_subcommand("inspect")) return ib::app::run_inspect(inspect_opts);
    if (app.got_subcommand("fleet")) return ib::fleet_ctl::run_fleet(app, fleet_opts);
    return 0;
}
