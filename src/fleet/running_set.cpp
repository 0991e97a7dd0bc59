#include "fleet/running_set.hpp"

#include <algorithm>

#include "core/log.hpp"
#include "rules/rule_settings.hpp"

namespace ib::fleet {

using drivers::DeviceConfig;
using rules::RuleConfig;
using rules::RuleSource;

ManagedConfig Running::managed() const {
    ManagedConfig m;
    m.devices.emplace();
    for (const auto& [d, s] : devices) m.devices->push_back(d);
    m.rules.emplace();
    for (const auto& [r, s] : rules) m.rules->push_back(r);
    m.bridges = bridges;
    m.users = users;
    m.acl = acl;
    return m;
}

Target target_of(const ManagedConfig& m) {
    Target t;
    if (m.devices) {
        t.devices.emplace();
        for (const auto& d : *m.devices) t.devices->emplace_back(d, DeviceSource::Fleet);
    }
    if (m.rules) {
        t.rules.emplace();
        for (const auto& r : *m.rules) t.rules->emplace_back(r, RuleSource::Fleet);
    }
    t.bridges = m.bridges;
    t.users = m.users;
    t.acl = m.acl;
    return t;
}

Target undo_of(const Running& before, const Target& touched) {
    Target t;
    if (touched.devices) {
        t.devices.emplace();
        for (const auto& [d, s] : before.devices) {
            t.devices->emplace_back(d, s == DeviceSource::File ? DeviceSource::File : DeviceSource::Fleet);
        }
    }
    if (touched.rules) {
        t.rules.emplace();
        for (const auto& [r, s] : before.rules) {
            t.rules->emplace_back(r, s == RuleSource::File ? RuleSource::File : RuleSource::Fleet);
        }
    }
    if (touched.bridges) t.bridges = before.bridges;
    if (touched.users) t.users = before.users;
    if (touched.acl) t.acl = before.acl;
    return t;
}

std::string set_devices(drivers::DeviceManager& dm, const std::vector<std::pair<DeviceConfig, DeviceSource>>& target) {
    std::vector<std::string> gone;
    for (const drivers::Device* d : dm.devices()) {
        const std::string& name = d->config().name;
        if (std::none_of(target.begin(), target.end(), [&](const auto& t) { return t.first.name == name; })) {
            gone.push_back(name);
        }
    }
    for (const auto& name : gone) {
        if (auto r = dm.remove(name, DeviceSource::Fleet); !r) return r.error().message;
    }
    for (const auto& [config, source] : target) {
        const drivers::Device* d = dm.find(config.name);
        if (d == nullptr) {
            if (auto r = dm.create(config, source); !r) return r.error().message;
        } else if (drivers::device_to_json(d->config()) != drivers::device_to_json(config)) {
            if (auto r = dm.replace(config, source); !r) return r.error().message;
        }
    }
    return {};
}

std::string set_rules(rules::RuleEngine& engine, const std::vector<std::pair<RuleConfig, RuleSource>>& target) {
    for (const auto& s : engine.status()) {
        if (std::none_of(target.begin(), target.end(), [&](const auto& t) { return t.first.id == s.id; })) {
            if (auto r = engine.remove(s.id, RuleSource::Fleet); !r) return r.error().message;
        }
    }
    for (const auto& [config, source] : target) {
        const RuleConfig* now = engine.find(config.id);
        if (now == nullptr) {
            if (auto r = engine.add(config, source); !r) return r.error().message;
        } else if (rules::rule_to_json(*now) != rules::rule_to_json(config)) {
            if (auto r = engine.replace(config, source); !r) return r.error().message;
        }
    }
    return {};
}

std::string set_bridges(std::vector<std::unique_ptr<bridge::Bridge>>& list, const std::vector<bridge::BridgeConfig>& target,
                        boost::asio::io_context& io, mqtt::broker::Router& router, const std::string& data_dir,
                        const std::string& node, std::vector<std::unique_ptr<bridge::Bridge>>& retired,
                        std::mutex* list_mutex) {
    std::unique_lock<std::mutex> lock;
    if (list_mutex) lock = std::unique_lock(*list_mutex);
    for (auto it = list.begin(); it != list.end();) {
        const std::string& name = (*it)->config().name;
        if (std::none_of(target.begin(), target.end(), [&](const auto& b) { return b.name == name; })) {
            (*it)->stop();
            retired.push_back(std::move(*it));
            it = list.erase(it);
        } else {
            ++it;
        }
    }
    for (const auto& config : target) {
        auto it = std::find_if(list.begin(), list.end(), [&](const auto& b) { return b->config().name == config.name; });
        if (it == list.end()) {
            list.push_back(std::make_unique<bridge::Bridge>(io, config, router, data_dir, node));
            if (auto r = list.back()->start(); !r) return r.error();
        } else if (!((*it)->config() == config)) {
            log::info("fleet: bridge '{}' restarts with its new settings", config.name);
            if (auto r = (*it)->restart(config); !r) return r.error();
        }
    }
    return {};
}

}  // namespace ib::fleet
