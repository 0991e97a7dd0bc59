#include "sparkplug/metric_catalog.hpp"

#include <algorithm>


namespace ib::sparkplug {

DataType datatype_of(const drivers::TagConfig& tag) {
    using T = drivers::DataType;
    if (tag.scaled()) return DataType::Double;
    switch (tag.type) {
        case T::Bool: return DataType::Boolean;
        case T::Int8: return DataType::Int8;
        case T::Uint8: return DataType::UInt8;
        case T::Int16: return DataType::Int16;
        case T::Uint16: return DataType::UInt16;
        case T::Int32: return DataType::Int32;
        case T::Uint32: return DataType::UInt32;
        case T::Int64: return DataType::Int64;
        case T::Uint64: return DataType::UInt64;
        case T::Float32: return DataType::Float;
        case T::Float64: return DataType::Double;
        case T::String: return DataType::String;
        case T::Bytes: return DataType::Bytes;
    }
    return DataType::Unknown;
}

MetricSpec* DeviceSpec::find(std::string_view metric_name) {
    auto it = std::find_if(metrics.begin(), metrics.end(), [&](const MetricSpec& m) { return m.name == metric_name; });
    return it == metrics.end() ? nullptr : &*it;
}

MetricSpec* DeviceSpec::find(std::string_view metric_name, std::size_t& hint) {
    if (hint < metrics.size() && metrics[hint].name == metric_name) return &metrics[hint++];
    MetricSpec* m = find(metric_name);
    if (m != nullptr) hint = static_cast<std::size_t>(m - metrics.data()) + 1;
    return m;
}

std::expected<MetricCatalog, std::string> MetricCatalog::build(const SparkplugConfig& config,
                                                               const std::vector<drivers::DeviceConfig>& devices) {
    auto find = [&](std::string_view name) -> const drivers::DeviceConfig* {
        auto it = std::find_if(devices.begin(), devices.end(), [&](const auto& d) { return d.name == name; });
        return it == devices.end() ? nullptr : &*it;
    };
    std::vector<const drivers::DeviceConfig*> selected;
    if (config.devices.empty()) {
        for (const auto& d : devices) selected.push_back(&d);
    } else {
        for (const auto& name : config.devices) {
            const auto* d = find(name);
            if (d == nullptr) return std::unexpected("sparkplug.devices: there is no device named \"" + name + "\"");
            selected.push_back(d);
        }
    }
    // Every "device/tag" of config.tags must name a tag of a selected device.
    for (const auto& entry : config.tags) {
        auto slash = entry.find('/');
        std::string_view device = std::string_view(entry).substr(0, slash);
        std::string_view tag = std::string_view(entry).substr(slash + 1);
        auto it = std::find_if(selected.begin(), selected.end(), [&](const auto* d) { return d->name == device; });
        bool found = false;
        if (it != selected.end()) {
            for (const auto& g : (*it)->groups) {
                for (const auto& t : g.tags) found = found || t.name() == tag;
            }
        }
        if (!found) return std::unexpected("sparkplug.tags: \"" + entry + "\" names no tag of a published device");
    }
    auto wanted = [&](std::string_view device, std::string_view tag) {
        if (config.tags.empty()) return true;
        return std::any_of(config.tags.begin(), config.tags.end(), [&](const std::string& e) {
            return e.size() == device.size() + 1 + tag.size() && e.starts_with(device) && e[device.size()] == '/' &&
                   std::string_view(e).substr(device.size() + 1) == tag;
        });
    };

    MetricCatalog c;
    uint64_t alias = 1;
    for (const auto* d : selected) {
        DeviceSpec spec;
        spec.name = d->name;
        for (const auto& g : d->groups) {
            for (const auto& t : g.tags) {
                if (!wanted(d->name, t.name())) continue;
                MetricSpec m;
                m.name = t.name();
                m.type = datatype_of(t);
                m.unit = t.unit();
                m.alias = alias++;
                m.writable = t.access != drivers::Access::Read;
                spec.metrics.push_back(std::move(m));
            }
        }
        c.devices_.push_back(std::move(spec));
    }
    for (std::size_t i = 0; i < c.devices_.size(); ++i) {
        for (std::size_t j = 0; j < c.devices_[i].metrics.size(); ++j) c.alias_index_[c.devices_[i].metrics[j].alias] = {i, j};
    }
    return c;
}

DeviceSpec* MetricCatalog::find_device(std::string_view name) {
    auto it = std::find_if(devices_.begin(), devices_.end(), [&](const DeviceSpec& d) { return d.name == name; });
    return it == devices_.end() ? nullptr : &*it;
}

std::optional<std::pair<DeviceSpec*, MetricSpec*>> MetricCatalog::by_alias(uint64_t alias) {
    auto it = alias_index_.find(alias);
    if (it == alias_index_.end()) return std::nullopt;
    DeviceSpec& d = devices_[it->second.first];
    return std::make_pair(&d, &d.metrics[it->second.second]);
}

}  // namespace ib::sparkplug
