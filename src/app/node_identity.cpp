#include "app/node_identity.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

namespace ib::app {
namespace {

// The fleet's own rule for site and edge ids, so any id fits a client id and a log line.
bool valid_id(const std::string& s) {
    if (s.empty() || s.size() > 64) return false;
    for (char c : s) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                        c == '.' || c == '-';
        if (!ok) return false;
    }
    return true;
}

std::string made_id() {
    std::random_device rd;
    char buf[16];
    std::snprintf(buf, sizeof buf, "%06x%06x", rd() & 0xffffffu, rd() & 0xffffffu);
    return buf;
}

}  // namespace

std::expected<std::string, std::string> node_identity(const fleet::FleetConfig& fleet, const std::string& data_dir) {
    if (fleet.active()) return fleet.site + "-" + fleet.edge;
    const std::filesystem::path path = std::filesystem::path(data_dir) / "node_id";
    std::error_code ec;
    if (std::filesystem::exists(path, ec)) {
        std::ifstream in(path);
        std::string id;
        std::getline(in, id);
        while (!id.empty() && (id.back() == '\r' || id.back() == ' ' || id.back() == '\t')) id.pop_back();
        if (!valid_id(id)) {
            return std::unexpected(path.string() + ": not a node id (1 to 64 of A-Z a-z 0-9 _ . -); remove it to have one made");
        }
        return id;
    }
    // Written aside then renamed: a crash leaves no half-written id behind.
    const std::string id = made_id();
    const std::filesystem::path tmp = path.string() + ".tmp";
    {
        std::ofstream out(tmp, std::ios::trunc);
        out << id << "\n";
        if (!out.flush()) return std::unexpected("cannot write " + tmp.string());
    }
    std::filesystem::rename(tmp, path, ec);
    if (ec) return std::unexpected("cannot write " + path.string() + ": " + ec.message());
    return id;
}

}  // namespace ib::app
