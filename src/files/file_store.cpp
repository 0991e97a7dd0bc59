#include "files/file_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <tuple>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/json_writer.hpp"

namespace fs = std::filesystem;

namespace ib::files {
namespace {

constexpr std::string_view kDataSuffix = ".data";
constexpr std::string_view kManifestSuffix = ".json";

std::string errno_text(std::string_view what, const std::string& path) {
    return std::string(what) + " " + path + ": " + std::strerror(errno);
}

bool fsync_path(const std::string& path, int flags) {
    const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
    if (fd < 0) return false;
    const bool ok = ::fsync(fd) == 0;
    ::close(fd);
    return ok;
}

bool fsync_dir(const std::string& dir) { return fsync_path(dir, O_RDONLY | O_DIRECTORY); }

// Written to `path`.tmp, fsynced, renamed over `path`; `durable` adds the
// directory's fsync, so the rename itself survives a power cut.
std::expected<void, std::string> write_atomically(const std::string& path, std::string_view content, bool durable) {
    const std::string tmp = path + ".tmp";
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return std::unexpected(errno_text("cannot create", tmp));
    std::size_t done = 0;
    while (done < content.size()) {
        const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            auto e = errno_text("cannot write", tmp);
            ::close(fd);
            return std::unexpected(e);
        }
        done += static_cast<std::size_t>(n);
    }
    if (durable && ::fsync(fd) != 0) {
        auto e = errno_text("cannot fsync", tmp);
        ::close(fd);
        return std::unexpected(e);
    }
    ::close(fd);
    if (::rename(tmp.c_str(), path.c_str()) != 0) return std::unexpected(errno_text("cannot rename", tmp));
    if (durable && !fsync_dir(fs::path(path).parent_path().string())) {
        return std::unexpected(errno_text("cannot fsync the directory of", path));
    }
    return {};
}

std::optional<std::string> read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string entry_json(const ForwardEntry& e) {
    std::string out;
    JsonWriter w(out);
    w.begin_object().field("client_id", e.client_id).field("file_id", e.file_id).field("acked", e.acked).end_object();
    return out;
}

}  // namespace

std::string encode_name(std::string_view raw) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(raw.size());
    for (std::size_t i = 0; i < raw.size(); ++i) {
        const auto c = static_cast<unsigned char>(raw[i]);
        const bool plain = std::isalnum(c) || c == '_' || c == '-' || (c == '.' && i > 0);
        if (plain) {
            out.push_back(static_cast<char>(c));
        } else {
            out.push_back('%');
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 0xF]);
        }
    }
    return out;
}

std::string decode_name(std::string_view encoded) {
    std::string out;
    out.reserve(encoded.size());
    for (std::size_t i = 0; i < encoded.size(); ++i) {
        if (encoded[i] == '%' && i + 2 < encoded.size()) {
            const auto hex = [](char c) { return std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : (c & ~0x20) - 'A' + 10; };
            out.push_back(static_cast<char>(hex(encoded[i + 1]) * 16 + hex(encoded[i + 2])));
            i += 2;
        } else {
            out.push_back(encoded[i]);
        }
    }
    return out;
}

std::string manifest_to_json(const Manifest& m) {
    std::string out;
    JsonWriter w(out);
    w.begin_object()
        .field("client_id", m.client_id)
        .field("file_id", m.file_id)
        .field("name", m.name)
        .field("size", m.size)
        .field("checksum", m.checksum)
        .field("stored_at", m.stored_at_ms);
    if (m.expire_at) w.field("expire_at", *m.expire_at);
    if (!m.user_data_json.empty()) w.raw_field("user_data", m.user_data_json);
    w.end_object();
    return out;
}

std::expected<Manifest, std::string> manifest_from_json(std::string_view json) {
    simdjson::dom::parser parser;
    simdjson::padded_string padded(json);
    simdjson::dom::object o;
    if (parser.parse(padded).get_object().get(o) != simdjson::SUCCESS) return std::unexpected("not a JSON object");
    Manifest m;
    std::string_view s;
    if (o["client_id"].get_string().get(s) != simdjson::SUCCESS) return std::unexpected("no client_id");
    m.client_id = s;
    if (o["file_id"].get_string().get(s) != simdjson::SUCCESS) return std::unexpected("no file_id");
    m.file_id = s;
    if (o["name"].get_string().get(s) == simdjson::SUCCESS) m.name = s;
    if (o["checksum"].get_string().get(s) == simdjson::SUCCESS) m.checksum = s;
    uint64_t u = 0;
    if (o["size"].get_uint64().get(u) != simdjson::SUCCESS) return std::unexpected("no size");
    m.size = u;
    int64_t i = 0;
    if (o["stored_at"].get_int64().get(i) == simdjson::SUCCESS) m.stored_at_ms = i;
    if (o["expire_at"].get_int64().get(i) == simdjson::SUCCESS) m.expire_at = i;
    simdjson::dom::element ud;
    if (o["user_data"].get(ud) == simdjson::SUCCESS) m.user_data_json = simdjson::minify(ud);
    return m;
}

FileStore::FileStore(std::string root) : root_(std::move(root)) {}

std::expected<void, std::string> FileStore::open() {
    std::error_code ec;
    for (const char* dir : {"", "/.tmp", "/.forward"}) {
        fs::create_directories(root_ + dir, ec);
        if (ec) return std::unexpected("cannot create " + root_ + dir + ": " + ec.message());
    }
    return {};
}

std::string FileStore::part_path(std::string_view client, std::string_view id) const {
    return root_ + "/.tmp/" + encode_name(client) + "~" + encode_name(id) + ".part";
}

bool FileStore::empty() const {
    std::error_code ec;
    for (const auto& f : fs::directory_iterator(root_, ec)) {
        const std::string name = f.path().filename().string();
        if (name != ".tmp" && name != ".forward") return false;
        if (!fs::is_empty(f.path(), ec)) return false;
    }
    return true;
}

std::vector<FileStore::Partial> FileStore::partials() const {
    std::vector<Partial> out;
    std::error_code ec;
    for (const auto& f : fs::directory_iterator(root_ + "/.tmp", ec)) {
        const std::string name = f.path().filename().string();
        if (!name.ends_with(".part")) continue;
        const std::string stem = name.substr(0, name.size() - 5);
        // encode_name never writes '~', so the first one splits client and id.
        const auto tilde = stem.find('~');
        if (tilde == std::string::npos) continue;
        out.push_back({decode_name(stem.substr(0, tilde)), decode_name(stem.substr(tilde + 1)), f.path().string()});
    }
    return out;
}

std::string FileStore::data_path(std::string_view client, std::string_view id) const {
    return root_ + "/" + encode_name(client) + "/" + encode_name(id) + std::string(kDataSuffix);
}

std::string FileStore::manifest_path(std::string_view client, std::string_view id) const {
    return root_ + "/" + encode_name(client) + "/" + encode_name(id) + std::string(kManifestSuffix);
}

std::expected<void, std::string> FileStore::commit(const std::string& part, const Manifest& m) {
    if (!fsync_path(part, O_RDONLY)) return std::unexpected(errno_text("cannot fsync", part));
    const std::string dir = root_ + "/" + encode_name(m.client_id);
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return std::unexpected("cannot create " + dir + ": " + ec.message());
    const std::string data = data_path(m.client_id, m.file_id);
    if (::rename(part.c_str(), data.c_str()) != 0) return std::unexpected(errno_text("cannot rename", part));
    Manifest stamped = m;
    if (stamped.stored_at_ms == 0) stamped.stored_at_ms = now_ms();
    // The manifest last, with the directory's fsync that covers the data's rename too.
    return write_atomically(manifest_path(m.client_id, m.file_id), manifest_to_json(stamped), true);
}

std::optional<Manifest> FileStore::manifest(std::string_view client, std::string_view id) const {
    auto text = read_text(manifest_path(client, id));
    if (!text) return std::nullopt;
    auto m = manifest_from_json(*text);
    if (!m) return std::nullopt;
    return *m;
}

std::vector<Manifest> FileStore::list() const {
    std::vector<Manifest> out;
    std::error_code ec;
    for (const auto& client_dir : fs::directory_iterator(root_, ec)) {
        const std::string dir_name = client_dir.path().filename().string();
        if (dir_name.starts_with('.') || !client_dir.is_directory()) continue;
        std::error_code inner;
        for (const auto& f : fs::directory_iterator(client_dir.path(), inner)) {
            const std::string name = f.path().filename().string();
            if (!name.ends_with(kManifestSuffix)) continue;
            auto text = read_text(f.path().string());
            if (!text) continue;
            if (auto m = manifest_from_json(*text)) out.push_back(std::move(*m));
        }
    }
    std::sort(out.begin(), out.end(), [](const Manifest& a, const Manifest& b) {
        return std::tie(a.stored_at_ms, a.client_id, a.file_id) < std::tie(b.stored_at_ms, b.client_id, b.file_id);
    });
    return out;
}

bool FileStore::remove(std::string_view client, std::string_view id) {
    const bool had = ::unlink(manifest_path(client, id).c_str()) == 0;
    ::unlink(data_path(client, id).c_str());
    std::error_code ec;
    fs::remove(root_ + "/" + encode_name(client), ec);  // only when empty
    return had;
}

uint64_t FileStore::total_bytes() const {
    uint64_t total = 0;
    for (const Manifest& m : list()) total += m.size;
    return total;
}

std::expected<void, std::string> FileStore::enqueue_forward(std::string_view bridge, std::string_view client,
                                                            std::string_view id) {
    const std::string dir = root_ + "/.forward/" + encode_name(bridge);
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return std::unexpected("cannot create " + dir + ": " + ec.message());
    // Named by time and file, so a listing in name order is the order of arrival.
    char stamp[24];
    std::snprintf(stamp, sizeof stamp, "%020lld", static_cast<long long>(now_ms()));
    ForwardEntry e;
    e.path = dir + "/" + stamp + "@" + encode_name(client) + "@" + encode_name(id);
    e.client_id = client;
    e.file_id = id;
    return write_atomically(e.path, entry_json(e), true);
}

std::vector<ForwardEntry> FileStore::forward_queue(std::string_view bridge) const {
    std::vector<ForwardEntry> out;
    std::error_code ec;
    for (const auto& f : fs::directory_iterator(root_ + "/.forward/" + encode_name(bridge), ec)) {
        const std::string path = f.path().string();
        if (path.ends_with(".tmp") || path.ends_with(".failed")) continue;
        auto text = read_text(path);
        if (!text) continue;
        simdjson::dom::parser parser;
        simdjson::padded_string padded(*text);
        simdjson::dom::object o;
        if (parser.parse(padded).get_object().get(o) != simdjson::SUCCESS) continue;
        ForwardEntry e;
        e.path = path;
        std::string_view s;
        if (o["client_id"].get_string().get(s) != simdjson::SUCCESS) continue;
        e.client_id = s;
        if (o["file_id"].get_string().get(s) != simdjson::SUCCESS) continue;
        e.file_id = s;
        uint64_t acked = 0;
        if (o["acked"].get_uint64().get(acked) == simdjson::SUCCESS) e.acked = acked;
        out.push_back(std::move(e));
    }
    std::sort(out.begin(), out.end(), [](const ForwardEntry& a, const ForwardEntry& b) { return a.path < b.path; });
    return out;
}

void FileStore::save_progress(const ForwardEntry& e) const { (void)write_atomically(e.path, entry_json(e), false); }

void FileStore::dequeue(const ForwardEntry& e) const {
    ::unlink(e.path.c_str());
    fsync_dir(fs::path(e.path).parent_path().string());
}

namespace {

// Moves every entry of `from` into `to` (created), then removes `from`; entries
// are renamed one by one, so a queue that exists on both sides is merged.
std::string move_queue(const fs::path& from, const fs::path& to) {
    std::error_code ec;
    fs::create_directories(to, ec);
    if (ec) return "cannot create " + to.string() + ": " + ec.message();
    for (const auto& f : fs::directory_iterator(from, ec)) {
        std::error_code moved;
        fs::rename(f.path(), to / f.path().filename(), moved);
        if (moved) return "cannot move " + f.path().string() + ": " + moved.message();
    }
    fsync_dir(to.string());
    fs::remove(from, ec);
    fsync_dir(from.parent_path().string());
    return {};
}

}  // namespace

FileStore::Parking FileStore::park_queues(const std::vector<std::string>& forwarding) const {
    Parking out;
    std::vector<std::string> wanted;
    for (const auto& b : forwarding) wanted.push_back(encode_name(b));
    const auto is_wanted = [&](const std::string& name) { return std::ranges::find(wanted, name) != wanted.end(); };
    const fs::path live = root_ + "/.forward", parked = root_ + "/.forward-parked";
    const auto move_where = [&](const fs::path& from, const fs::path& to, bool want, std::vector<std::string>& moved) {
        std::error_code ec;
        std::vector<fs::path> dirs;
        for (const auto& d : fs::directory_iterator(from, ec)) {
            if (d.is_directory() && is_wanted(d.path().filename().string()) == want) dirs.push_back(d.path());
        }
        for (const auto& d : dirs) {
            if (auto err = move_queue(d, to / d.filename()); !err.empty()) {
                if (out.error.empty()) out.error = err;
                continue;
            }
            moved.push_back(d.filename().string());
        }
    };
    move_where(live, parked, false, out.parked);
    move_where(parked, live, true, out.resumed);
    return out;
}

bool FileStore::queued_elsewhere(std::string_view bridge, std::string_view client, std::string_view id) const {
    const std::string suffix = "@" + encode_name(client) + "@" + encode_name(id);
    const std::string own = encode_name(bridge);
    std::error_code ec;
    for (const auto& dir : fs::directory_iterator(root_ + "/.forward", ec)) {
        if (dir.path().filename().string() == own) continue;
        std::error_code inner;
        for (const auto& f : fs::directory_iterator(dir.path(), inner)) {
            if (f.path().filename().string().ends_with(suffix)) return true;
        }
    }
    return false;
}

}  // namespace ib::files
