#include "drivers/opcua/opcua_driver.hpp"

#include <utility>  // before Asio: Boost 1.74 coroutine headers need it

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>

#include "core/json_writer.hpp"
#include "core/log.hpp"
#include "core/room.hpp"
#include "drivers/opcua/browse_path.hpp"
#include "drivers/opcua/client_link.hpp"
#include "drivers/opcua/node_id.hpp"
#include "drivers/opcua/status_code.hpp"
#include "drivers/opcua/variant_value.hpp"
#include "drivers/reconnect_backoff.hpp"

namespace ib::drivers::opcua {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Namespace 0 nodes every server has (OPC 10000-6 Annex A, NodeIds.csv).
constexpr uint32_t kNamespaceArray = 2255;
constexpr uint32_t kServerStatusState = 2259;  // Server_ServerStatus_State
// P5 §12.6 ServerState: the states in which a server's session has no future.
constexpr int32_t kServerStateFailed = 1;
constexpr int32_t kServerStateShutdown = 4;
// How often the server's state is read (one small Read).
constexpr milliseconds kStatusWatchPeriod{2000};
constexpr uint32_t kMaxNodesPerRead = 11705;
constexpr uint32_t kMaxMonitoredItemsPerCall = 11714;
constexpr uint32_t kObjectsFolder = 85;

// Without a limit from the server, requests stay this size: big enough to be
// cheap, small enough for servers that limit without saying (Siemens, ~1000).
constexpr size_t kDefaultBatch = 500;
// Nor larger than this when the server allows more: a request's items are
// built and encoded whole, so a batch of every tag of a big group (node-opcua
// allows 10,000) made a few hundred bytes per tag at once that the allocator
// kept after start-up (BENCHMARKS.md, OPC UA memory per monitored item).
constexpr size_t kMaxBatch = 1000;
// Publish requests kept at the server, so a notification never waits for a
// round trip (P4 §5.13.5.1: the client keeps enough queued).
constexpr int kPublishesOutstanding = 2;
// A subscription says it is alive at least this often when nothing changes.
constexpr milliseconds kKeepAliveTarget{2000};
constexpr int kMaxBrowseRounds = 100;

TagError tag_error(TagErrc code, std::string message) {
    return TagError{static_cast<uint16_t>(code), std::move(message)};
}

ReadValueId read_id(NodeId node, AttributeId attribute = AttributeId::Value) {
    ReadValueId out;
    out.node_id = std::move(node);
    out.attribute_id = static_cast<uint32_t>(attribute);
    return out;
}

TagError status_error(StatusCode s) { return tag_error(TagErrc::DeviceStatus, describe(s)); }

// Statuses after which the session cannot go on: the link is rebuilt.
bool link_is_gone(StatusCode s) {
    for (StatusCode gone : {status::BadTimeout, status::BadConnectionClosed, status::BadServerNotConnected,
                            status::BadSessionIdInvalid, status::BadSessionClosed, status::BadSessionNotActivated,
                            status::BadSecureChannelIdInvalid, status::BadSecureChannelClosed,
                            status::BadSecureChannelTokenUnknown}) {
        if (s.value >> 16 == gone.value >> 16) return true;
    }
    return false;
}

SecurityPolicy policy_of(const std::string& s) {
    if (s == "None") return SecurityPolicy::None;
    if (s == "Basic256Sha256") return SecurityPolicy::Basic256Sha256;
    if (s == "Aes128_Sha256_RsaOaep") return SecurityPolicy::Aes128_Sha256_RsaOaep;
    if (s == "Aes256_Sha256_RsaPss") return SecurityPolicy::Aes256_Sha256_RsaPss;
    return SecurityPolicy::Best;
}

MessageSecurityMode mode_of(const std::string& s) {
    if (s == "None") return MessageSecurityMode::None;
    if (s == "Sign") return MessageSecurityMode::Sign;
    if (s == "SignAndEncrypt") return MessageSecurityMode::SignAndEncrypt;
    return MessageSecurityMode::Invalid;
}

std::string_view node_class_name(NodeClass c) {
    switch (c) {
        case NodeClass::Object: return "Object";
        case NodeClass::Variable: return "Variable";
        case NodeClass::Method: return "Method";
        case NodeClass::ObjectType: return "ObjectType";
        case NodeClass::VariableType: return "VariableType";
        case NodeClass::ReferenceType: return "ReferenceType";
        case NodeClass::DataType: return "DataType";
        case NodeClass::View: return "View";
        default: return "Unspecified";
    }
}

// The value of a DataValue as a reading: Good sets it, Uncertain sets it with
// its quality, Bad fails the tag with the status name.
void fill(TagReading& out, const DataValue& dv) {
    if (is_bad(dv.status)) return out.fail(static_cast<uint16_t>(TagErrc::DeviceStatus), describe(dv.status));
    auto v = to_value(dv.value);
    if (!v) return out.fail(static_cast<uint16_t>(TagErrc::Decode), v.error());
    out.set(std::move(*v));
    if (is_uncertain(dv.status)) out.set_quality(describe(dv.status));
}

ClientConfig client_config(const DeviceConfig& device, const std::string& pki_dir) {
    ClientConfig c;
    auto endpoint = parse_opc_endpoint(device.opcua.endpoint);  // checked by the loader
    if (endpoint) {
        c.host = endpoint->host;
        c.port = endpoint->port;
    }
    c.endpoint_url = device.opcua.endpoint;
    c.timeout = device.timeout;
    c.session_name = "ironbridge:" + device.name;
    c.session_timeout_ms = device.opcua.session_timeout_ms;
    c.security.policy = policy_of(device.opcua.security_policy);
    c.security.mode = mode_of(device.opcua.security_mode);
    c.security.pki_dir = pki_dir;
    c.security.trust_on_first_use = device.opcua.trust_on_first_use;
    UserIdentity& id = c.security.identity;
    if (!device.opcua.username.empty()) {
        id.type = UserTokenType::UserName;
        id.user_name = device.opcua.username;
        id.password = device.opcua.password;
    } else if (!device.opcua.user_certificate.empty()) {
        id.type = UserTokenType::Certificate;
        id.certificate_file = device.opcua.user_certificate;
        id.private_key_file = device.opcua.user_key;
    }
    return c;
}

// One tag of the device, in the device's flat order (group by group). Kept
// small: a device may monitor tens of thousands of items. The address stays
// in the tag's config as the user wrote it and is parsed again at each
// connect (nsu= and browse paths are resolved then anyway); why a node could
// not be resolved is kept aside (OpcUaDriver::unresolved_), for the few tags
// that have a reason.
struct TagPlan {
    NodeId node;  // resolved at each connect; meaningless unless `resolved`
    std::optional<BuiltinType> write_type;  // the node's DataType, read at the first write
    bool resolved = false;  // not an optional<NodeId>: its flag would cost 8 bytes per item
    bool readable = false;
    bool by_path = false;  // the address is a browse path from the Objects folder

    void resolve(NodeId id) {
        node = std::move(id);
        resolved = true;
    }
};

// What each monitored item costs the driver: its plan, and a bit saying whether
// it has news waiting (bench/opcua.sh MODE=memory measures the whole process,
// BENCHMARKS.md accounts for the rest). Issue 13's budget is 300 bytes.
static_assert(sizeof(TagPlan) <= 56, "the per-item structures grew: see BENCHMARKS.md");

// Room for news a group keeps between two pushes; a larger burst (the first
// values of every item, a reconnect) gives its room back once pushed.
constexpr size_t kNewsKept = 256;

struct GroupState {
    bool subscribe = false;
    size_t first = 0;  // its first tag in tags_
    size_t count = 0;
    uint32_t subscription_id = 0;
    uint32_t last_sequence = 0;  // of the last notification message taken in
    // While missed messages are asked for again (Republish), newer ones wait
    // here, so every tag's changes still go out in order.
    bool recovering = false;
    std::deque<NotificationMessage> held;
    // News to push (subscribe groups), in the order it came; a tag has at
    // most one entry (in_news), a second change pushes the first.
    std::vector<TagNews> news;
    std::vector<bool> in_news;
};

// A poll of one group: requests still out, and where results go.
struct ReadOp {
    std::span<TagReading> out;
    size_t first = 0;  // the group's first tag in tags_: out[k - first] is tag k's
    Driver::ReadDone done;
    size_t pending = 1;  // +1 until every request is sent
};

class OpcUaDriver final : public Driver {
public:
    OpcUaDriver(asio::io_context& io, const DeviceConfig& config, DriverEvents& events, std::string pki_dir)
        : io_(io),
          config_(config),
          events_(events),
          client_config_(client_config(config, pki_dir)),
          reconnect_timer_(io),
          watch_timer_(io),
          backoff_(config.reconnect_min, config.reconnect_max) {
        size_t tags = 0;
        for (const GroupConfig& group : config.groups) tags += group.tags.size();
        tags_.reserve(tags);
        for (uint32_t g = 0; g < config.groups.size(); ++g) {
            const GroupConfig& group = config.groups[g];
            GroupState state;
            state.subscribe = group.mode != GroupMode::Poll;
            state.first = tags_.size();
            state.count = group.tags.size();
            if (state.subscribe) state.in_news.resize(group.tags.size());
            for (uint32_t t = 0; t < group.tags.size(); ++t) {
                TagPlan plan;
                plan.readable = readable(group.tags[t].access);
                plan.by_path = is_browse_path(group.tags[t].address());
                tags_.push_back(std::move(plan));
            }
            groups_.push_back(std::move(state));
        }
    }

    ~OpcUaDriver() override {
        *alive_ = false;
        if (link_) link_->abort("the device was removed");
    }

    void start() override {
        stopped_ = false;
        backoff_.reset();
        connect();
    }

    void stop() override {
        stopped_ = true;
        resume_.reset();
        reconnect_timer_.cancel();
        if (connected_) close_session();
        else drop_link("the device was stopped");
        events_.on_link_state(LinkState::Stopped, "");
    }

    bool pushes(uint32_t group) const override { return group < groups_.size() && groups_[group].subscribe; }

    const DriverStats& stats() const override {
        stats_.renewals = renewals_of_old_links_ + (link_ ? link_->renewals() : 0);
        return stats_;
    }

    // ------------------------------------------------------------------ reads
    void read(uint32_t group, std::span<TagReading> out, ReadDone done) override {
        auto op = std::make_shared<ReadOp>();
        op->out = out;
        op->first = groups_[group].first;
        op->done = std::move(done);
        const GroupState& g = groups_[group];
        std::vector<ReadValueId> batch;
        std::vector<uint32_t> batch_tags;
        for (size_t k = g.first; k < g.first + g.count; ++k) {
            const TagPlan& t = tags_[k];
            if (!t.readable) continue;
            TagReading& r = out[k - g.first];
            if (!connected_) {
                r.fail(static_cast<uint16_t>(TagErrc::Disconnected), disconnected_text());
                continue;
            }
            if (!t.resolved) {
                r.fail(static_cast<uint16_t>(TagErrc::DeviceStatus), unresolved(k));
                continue;
            }
            batch.push_back(read_id(t.node));
            batch_tags.push_back(static_cast<uint32_t>(k));
            if (batch.size() == read_batch_) send_read(op, std::move(batch), std::move(batch_tags));
        }
        if (!batch.empty()) send_read(op, std::move(batch), std::move(batch_tags));
        // Done from the loop, never from inside read(): the caller is still in it.
        asio::post(io_, [this, op, alive = alive_] {
            if (*alive) finish(op);
        });
    }

    // ----------------------------------------------------------------- writes
    void write(std::vector<WriteItem> items, WriteDone done) override {
        std::vector<std::optional<TagError>> results(items.size());
        if (!connected_) {
            for (auto& r : results) r = tag_error(TagErrc::Disconnected, disconnected_text());
            return asio::post(io_, [done = std::move(done), results = std::move(results)]() mutable {
                done(std::move(results));
            });
        }
        // The DataType of nodes written for the first time, in one Read.
        std::vector<ReadValueId> types;
        std::vector<size_t> typed_tags;
        for (const WriteItem& item : items) {
            const size_t k = groups_[item.group].first + item.tag;
            TagPlan& t = tags_[k];
            if (!t.resolved || t.write_type) continue;
            if (std::find(typed_tags.begin(), typed_tags.end(), k) != typed_tags.end()) continue;
            types.push_back(read_id(t.node, AttributeId::DataType));
            typed_tags.push_back(k);
        }
        if (types.empty()) return send_write(std::move(items), std::move(results), {}, std::move(done));
        struct Pending {
            std::vector<WriteItem> items;
            std::vector<std::optional<TagError>> results;
            WriteDone done;
        };
        auto pending = std::make_shared<Pending>(Pending{std::move(items), std::move(results), std::move(done)});
        const uint64_t generation = generation_;
        read_batched(std::move(types), [this, generation, typed_tags = std::move(typed_tags), pending,
                                        alive = alive_](ClientResult<std::vector<DataValue>> r) mutable {
            if (!*alive) {
                // The device is being removed: its writer still gets an answer.
                for (auto& e : pending->results) e = tag_error(TagErrc::Cancelled, "the device was stopped");
                return pending->done(std::move(pending->results));
            }
            std::map<size_t, std::string> type_errors;
            for (size_t i = 0; i < typed_tags.size(); ++i) {
                if (!r) {
                    type_errors[typed_tags[i]] = "cannot read the node's DataType: " + r.error().message;
                    continue;
                }
                const DataValue& dv = (*r)[i];
                const auto* ids = std::get_if<std::vector<NodeId>>(&dv.value.values);
                if (is_bad(dv.status) || ids == nullptr || ids->empty()) {
                    type_errors[typed_tags[i]] = describe(dv.status);
                    continue;
                }
                auto builtin = builtin_of_data_type(ids->front());
                if (!builtin) {
                    type_errors[typed_tags[i]] =
                        "BadTypeMismatch: writing a node of DataType " + to_string(ids->front()) + " is not supported";
                    continue;
                }
                if (generation == generation_) tags_[typed_tags[i]].write_type = *builtin;
                else type_errors[typed_tags[i]] = disconnected_text();
            }
            send_write(std::move(pending->items), std::move(pending->results), std::move(type_errors),
                       std::move(pending->done));
        });
    }

    // ----------------------------------------------------------------- browse
    void browse(std::string node, std::function<void(BrowseOutcome)> done) override {
        auto fail_later = [this, &done](TagError e) {
            asio::post(io_, [done = std::move(done), e = std::move(e)] { done(std::unexpected(e)); });
        };
        if (!connected_) return fail_later(tag_error(TagErrc::Disconnected, disconnected_text()));
        NodeId start = numeric_node(0, kObjectsFolder);
        if (!node.empty()) {
            auto parsed = parse_expanded_node_id(node);
            if (!parsed) return fail_later(tag_error(TagErrc::BadValue, "node: " + std::string(parsed.error().message)));
            auto resolved = resolve(*parsed, namespaces_);
            if (!resolved) return fail_later(tag_error(TagErrc::BadValue, "node: " + std::string(resolved.error().message)));
            start = std::move(*resolved);
        }
        auto refs = std::make_shared<std::vector<ReferenceDescription>>();
        BrowseRequest request;
        BrowseDescription d;
        d.node_id = start;
        request.nodes_to_browse.push_back(std::move(d));
        ++stats_.requests;
        link_->call(std::move(request), [this, refs, done = std::move(done), alive = alive_](
                                            ClientResult<Response> r) mutable {
            if (!*alive) return done(std::unexpected(tag_error(TagErrc::Cancelled, "the device was stopped")));
            browse_collect(std::move(r), refs, 0, std::move(done));
        });
    }

private:
    // ------------------------------------------------------------ the link
    std::string disconnected_text() const {
        return "disconnected: " + (last_error_.empty() ? std::string("connecting") : last_error_);
    }

    // A plan is found by its place in tags_ (also the client handle of its
    // monitored item); its group and index there are not kept per tag.
    uint32_t group_of(size_t k) const {
        auto after = std::ranges::upper_bound(groups_, k, {}, &GroupState::first);
        return static_cast<uint32_t>(after - groups_.begin() - 1);
    }
    std::string_view address_of(size_t k) const {
        const uint32_t g = group_of(k);
        return config_.groups[g].tags[k - groups_[g].first].address();
    }

    // Why tag k has no node since the last connect.
    std::string unresolved(size_t k) const {
        auto it = unresolved_.find(k);
        return it != unresolved_.end() ? it->second : "BadNodeIdUnknown";
    }

    // Callbacks check their captured `alive` first: a closing link (close_session)
    // may answer after the driver is gone.
    bool current(uint64_t generation) const { return generation == generation_ && link_ != nullptr; }

    void connect() {
        if (stopped_) return;
        ++generation_;
        const uint64_t generation = generation_;
        link_ = std::make_shared<ClientLink>(io_, client_config_);
        link_->on_lost([this, generation, alive = alive_](const ClientError& e) {
            if (!*alive || generation != generation_) return;
            link_lost(e.message);
        });
        link_->connect(
            [this, generation, alive = alive_](ClientResult<void> r) {
                if (!*alive || generation != generation_) return;
                if (!r) return connect_failed(r.error().message);
                resume_.reset();
                if (link_->resumed()) return after_resume(generation);
                // A new session: the old one's subscriptions, if any, are
                // offered to it once the tags are resolved (session_ready).
                after_session(generation);
            },
            resume_);
    }

    // The session lived on (re-activated on a new channel), and with it the
    // subscriptions and the server's queue of their notifications: publishing
    // starts again, a gap is asked for again (on_publish), and the subscribed
    // tags, marked disconnected when the link went, are read once so they
    // show their values again without waiting for a change.
    void after_resume(uint64_t generation) {
        now_connected(generation);
        std::vector<ReadValueId> nodes;
        std::vector<size_t> which;
        for (const GroupState& group : groups_) {
            if (!group.subscribe || group.subscription_id == 0) continue;
            for (size_t k = group.first; k < group.first + group.count; ++k) {
                if (!tags_[k].readable || !tags_[k].resolved) continue;
                nodes.push_back(read_id(tags_[k].node));
                which.push_back(k);
            }
        }
        read_batched(std::move(nodes), [this, generation, which = std::move(which),
                                        alive = alive_](ClientResult<std::vector<DataValue>> r) {
            if (!*alive || !current(generation)) return;
            if (!r) return link_lost("cannot read the subscribed tags again: " + r.error().message);
            std::set<uint32_t> touched;
            for (size_t i = 0; i < which.size(); ++i) {
                const uint32_t g = group_of(which[i]);
                fill(news_of(g, which[i]), (*r)[i]);
                touched.insert(g);
            }
            for (uint32_t g : touched) push(g);
        });
        if (!subscription_groups_.empty()) {
            while (publishes_out_ < kPublishesOutstanding) publish(generation);
        }
    }

    // P4 §6.7-style start: the server's namespace table (for nsu= addresses,
    // whose indexes may change at each restart) and operation limits, then the
    // subscriptions.
    void after_session(uint64_t generation) {
        std::vector<ReadValueId> nodes = {read_id(numeric_node(0, kNamespaceArray)),
                                          read_id(numeric_node(0, kMaxNodesPerRead)),
                                          read_id(numeric_node(0, kMaxMonitoredItemsPerCall))};
        call_read(std::move(nodes), [this, generation, alive = alive_](ClientResult<std::vector<DataValue>> r) {
            if (!*alive || !current(generation)) return;
            if (!r) return link_lost("cannot read the server's NamespaceArray: " + r.error().message);
            namespaces_.clear();
            if (const auto* uris = std::get_if<std::vector<std::string>>(&(*r)[0].value.values)) namespaces_ = *uris;
            read_batch_ = limit_of((*r)[1]);
            monitor_batch_ = limit_of((*r)[2]);
            unresolved_.clear();
            for (size_t k = 0; k < tags_.size(); ++k) {
                TagPlan& t = tags_[k];
                t.resolved = false;
                t.write_type.reset();
                if (t.by_path) continue;
                // The loader checked every address (check_tag_address).
                auto address = parse_expanded_node_id(address_of(k));
                if (!address) {
                    unresolved_[k] = "BadNodeIdInvalid: " + std::string(address.error().message);
                    continue;
                }
                auto node = resolve(*address, namespaces_);
                if (node) t.resolve(std::move(*node));
                else unresolved_[k] = "BadNodeIdUnknown: " + std::string(node.error().message);
            }
            follow_paths(generation, 0);
        });
    }

    // Tags by browse path: TranslateBrowsePathsToNodeIds from the Objects
    // folder (P4 §5.8.4), in batches of MaxNodesPerRead, after every connect
    // (a server may renumber its nodes at a restart). A path that leads
    // nowhere fails its tag alone with the server's status (BadNoMatch).
    void follow_paths(uint64_t generation, size_t from) {
        TranslateBrowsePathsToNodeIdsRequest request;
        std::vector<size_t> batch;
        size_t k = from;
        for (; k < tags_.size() && batch.size() < read_batch_; ++k) {
            if (!tags_[k].by_path) continue;
            auto path = parse_browse_path(address_of(k));  // checked by the loader
            if (!path) {
                unresolved_[k] = "BadBrowseNameInvalid: " + std::string(path.error().message);
                continue;
            }
            request.browse_paths.push_back(BrowsePath{numeric_node(0, kObjectsFolder), std::move(*path)});
            batch.push_back(k);
        }
        if (batch.empty()) return session_ready(generation);
        const size_t count = batch.size();
        call_for_batch<TranslateBrowsePathsToNodeIdsResponse>(
            generation, std::move(request), "TranslateBrowsePathsToNodeIds", count,
            [this, generation, next = k, batch = std::move(batch)](const auto& translated) {
                for (size_t i = 0; i < batch.size(); ++i) {
                    TagPlan& t = tags_[batch[i]];
                    const BrowsePathResult& result = translated.results[i];
                    const BrowsePathTarget* whole = nullptr;
                    for (const BrowsePathTarget& target : result.targets) {
                        // P4 §7.4: UInt32 max when the whole path was followed on this server.
                        if (target.remaining_path_index == UINT32_MAX && target.target_id.server_index == 0) {
                            whole = &target;
                            break;
                        }
                    }
                    if (is_good(result.status_code) && whole != nullptr) t.resolve(whole->target_id.node);
                    else unresolved_[batch[i]] = describe(is_bad(result.status_code) ? result.status_code : status::BadNoMatch);
                }
                follow_paths(generation, next);
            });
    }

    // A request of a connect-time batch, answered by `Reply` with one result
    // per item; a failure or any other answer drops the link.
    template <typename Reply, typename Request>
    void call_for_batch(uint64_t generation, Request request, const char* what, size_t count,
                        std::function<void(const Reply&)> then) {
        ++stats_.requests;
        link_->call(std::move(request), [this, generation, what, count, then = std::move(then),
                                         alive = alive_](ClientResult<Response> r) {
            if (!*alive || !current(generation)) return;
            if (!r) return link_lost(std::string(what) + " failed: " + r.error().message);
            const auto* reply = std::get_if<Reply>(&*r);
            if (reply == nullptr || reply->results.size() != count) {
                return link_lost(std::string(what) + " answered with another response");
            }
            then(*reply);
        });
    }

    // A session with every tag resolved: the status says so, the ServerStatus
    // watch starts, and the subscribe groups get their subscriptions.
    void session_ready(uint64_t generation) {
        now_connected(generation);
        if (!subscription_groups_.empty()) return transfer_subscriptions(generation);
        subscribe_missing(generation);
    }

    // Subscriptions for the subscribe groups that have none.
    void subscribe_missing(uint64_t generation) {
        for (uint32_t g = 0; g < groups_.size(); ++g) {
            if (groups_[g].subscribe && groups_[g].subscription_id == 0 && readable_tags(g)) subscribe(generation, g);
        }
    }

    // The old session could not be taken over (the server closed it, e.g. on
    // its timeout) but its subscriptions may live on at the server, with
    // their monitored items and unacknowledged messages: P4 §5.13.7 moves them
    // to the new session, the first Publish carrying every item's current
    // value, and a gap in their sequence numbers is asked for again
    // (on_publish). What did not move (BadSubscriptionIdInvalid after a
    // restart, BadUserAccessDenied, a server without the service) is made anew.
    void transfer_subscriptions(uint64_t generation) {
        TransferSubscriptionsRequest request;
        for (const auto& [id, g] : subscription_groups_) request.subscription_ids.push_back(id);
        request.send_initial_values = true;
        const std::vector<uint32_t> ids = request.subscription_ids;
        ++stats_.requests;
        link_->call(std::move(request), [this, generation, ids, alive = alive_](ClientResult<Response> r) {
            if (!*alive || !current(generation)) return;
            if (!r && link_is_gone(r.error().status)) return link_lost("TransferSubscriptions failed: " + r.error().message);
            const auto* moved = r ? std::get_if<TransferSubscriptionsResponse>(&*r) : nullptr;
            for (size_t i = 0; i < ids.size(); ++i) {
                if (moved != nullptr && i < moved->results.size() && is_good(moved->results[i].status_code)) {
                    ++stats_.transfers;
                    continue;
                }
                GroupState& group = groups_[subscription_groups_[ids[i]]];
                group.subscription_id = 0;
                group.last_sequence = 0;
                subscription_groups_.erase(ids[i]);
            }
            subscribe_missing(generation);
            if (!subscription_groups_.empty()) {
                while (publishes_out_ < kPublishesOutstanding) publish(generation);
            }
        });
    }

    void now_connected(uint64_t generation) {
        connected_ = true;
        last_error_.clear();
        backoff_.reset();
        events_.on_link_state(LinkState::Connected, "");
        watch_server(generation);
    }

    // The ServerStatus watch: a server that announces it is shutting down (or
    // has failed) is left at once, before it drops the connection, and the
    // reconnect back-off starts then; a Read that fails on the link ends it too.
    void watch_server(uint64_t generation) {
        watch_timer_.expires_after(kStatusWatchPeriod);
        watch_timer_.async_wait([this, generation, alive = alive_](const boost::system::error_code& ec) {
            if (ec || !*alive || !current(generation)) return;
            call_read({read_id(numeric_node(0, kServerStatusState))},
                      [this, generation, alive = alive_](ClientResult<std::vector<DataValue>> r) {
                          if (!*alive || !current(generation)) return;
                          if (!r) {
                              check_link(generation, r.error());
                              if (current(generation)) watch_server(generation);
                              return;
                          }
                          const auto* state = std::get_if<std::vector<int32_t>>(&(*r)[0].value.values);
                          if (state != nullptr && state->size() == 1 &&
                              (state->front() == kServerStateShutdown || state->front() == kServerStateFailed)) {
                              return link_lost(state->front() == kServerStateShutdown
                                                   ? "the server says it is shutting down (ServerStatus.State Shutdown)"
                                                   : "the server says it has failed (ServerStatus.State Failed)");
                          }
                          watch_server(generation);
                      });
        });
    }

    bool readable_tags(uint32_t g) const {
        const GroupState& group = groups_[g];
        for (size_t k = group.first; k < group.first + group.count; ++k) {
            if (tags_[k].readable) return true;
        }
        return false;
    }

    static size_t limit_of(const DataValue& dv) {
        if (const auto* v = std::get_if<std::vector<uint32_t>>(&dv.value.values); v && !v->empty() && v->front() > 0) {
            return std::min<size_t>(v->front(), kMaxBatch);
        }
        return kDefaultBatch;
    }

    void connect_failed(std::string why) {
        ++stats_.reconnects;
        last_error_ = why;
        drop_link(why);
        events_.on_link_state(LinkState::Reconnecting, why);
        schedule_reconnect();
    }

    void link_lost(std::string why) {
        if (!link_) return;
        const bool was_connected = connected_;
        // The next link first tries to take over this session (P4 §5.6.3.1).
        if (was_connected) resume_ = link_->session();
        ++stats_.reconnects;
        last_error_ = why;
        drop_link(why);
        events_.on_link_state(LinkState::Reconnecting, why);
        // Subscribed tags say at once that their values stopped: a poll group's
        // next read does the same.
        if (was_connected) {
            for (uint32_t g = 0; g < groups_.size(); ++g) {
                if (!groups_[g].subscribe) continue;
                for (size_t k = groups_[g].first; k < groups_[g].first + groups_[g].count; ++k) {
                    if (tags_[k].readable) {
                        news_of(g, k).fail(static_cast<uint16_t>(TagErrc::Disconnected), disconnected_text());
                    }
                }
                push(g);
            }
        }
        schedule_reconnect();
    }

    // Pending requests of the old link fail (their callbacks see another
    // generation and only report); the link itself goes once its stack unwinds.
    void drop_link(const std::string& why) {
        connected_ = false;
        ++generation_;
        publishes_out_ = 0;
        watch_timer_.cancel();
        // A session that may be taken over keeps its subscriptions; messages
        // held during a Republish stay unacknowledged at the server and are
        // asked for again after the gap the next Publish shows.
        if (!resume_) forget_subscriptions();
        for (GroupState& g : groups_) {
            g.recovering = false;
            g.held.clear();
        }
        if (auto old = std::move(link_)) {
            renewals_of_old_links_ += old->renewals();
            old->abort(why);
            asio::post(io_, [old] {});
        }
    }

    void forget_subscriptions() {
        subscription_groups_.clear();
        acks_.clear();
        for (GroupState& g : groups_) {
            g.subscription_id = 0;
            g.last_sequence = 0;
            g.recovering = false;
            g.held.clear();
        }
    }

    // A stopped (edited, deleted) device closes its session rather than leave
    // it to time out: a PLC serves few sessions (an S7-1500 some tens), and a
    // device edited a few times a minute would use them up. The link outlives
    // the driver until the server has answered, for at most the timeout;
    // pending requests fail when it closes.
    void close_session() {
        connected_ = false;
        auto old = std::move(link_);
        renewals_of_old_links_ += old->renewals();
        drop_link("the device was stopped");
        old->close();
        auto linger = std::make_shared<asio::steady_timer>(io_);
        linger->expires_after(config_.timeout);
        linger->async_wait([linger, old](const boost::system::error_code&) { old->abort("the device was stopped"); });
    }

    void schedule_reconnect() {
        if (stopped_) return;
        reconnect_timer_.expires_after(backoff_.next());
        reconnect_timer_.async_wait([this, alive = alive_](const boost::system::error_code& ec) {
            if (ec || !*alive || stopped_) return;
            connect();
        });
    }

    // A request failed: when the reason is the link, rebuild it.
    void check_link(uint64_t generation, const ClientError& e) {
        if (e.status == status::BadTimeout) ++stats_.timeouts;
        if (current(generation) && link_is_gone(e.status)) link_lost(e.message);
    }

    void call_read(std::vector<ReadValueId> nodes, std::function<void(ClientResult<std::vector<DataValue>>)> done) {
        ++stats_.requests;
        const auto sent = Clock::now();
        link_->read(std::move(nodes), TimestampsToReturn::Neither,
                    [this, sent, alive = alive_, done = std::move(done)](ClientResult<std::vector<DataValue>> r) {
                        if (*alive && r) {
                            ++stats_.round_trips;
                            stats_.round_trip_seconds_sum += std::chrono::duration<double>(Clock::now() - sent).count();
                        }
                        done(std::move(r));
                    });
    }

    // ------------------------------------------------------------------ polls
    void send_read(const std::shared_ptr<ReadOp>& op, std::vector<ReadValueId> nodes, std::vector<uint32_t> tags) {
        ++op->pending;
        const uint64_t generation = generation_;
        call_read(std::move(nodes), [this, op, generation, tags = std::move(tags), alive = alive_](
                                        ClientResult<std::vector<DataValue>> r) {
            if (!*alive) return;
            for (size_t i = 0; i < tags.size(); ++i) {
                TagReading& out = op->out[tags[i] - op->first];
                if (r) fill(out, (*r)[i]);
                else out.fail(static_cast<uint16_t>(r.error().status == status::BadTimeout ? TagErrc::Timeout
                                                                                           : TagErrc::Disconnected),
                              r.error().message);
            }
            if (!r) check_link(generation, r.error());
            finish(op);
        });
    }

    void finish(const std::shared_ptr<ReadOp>& op) {
        if (--op->pending == 0) {
            auto done = std::move(op->done);
            done();
        }
    }

    // ----------------------------------------------------------------- writes
    void send_write(std::vector<WriteItem> items, std::vector<std::optional<TagError>> results,
                    std::map<size_t, std::string> type_errors, WriteDone done) {
        WriteRequest request;
        std::vector<size_t> slot;  // results index of each WriteValue
        for (size_t i = 0; i < items.size(); ++i) {
            const size_t k = groups_[items[i].group].first + items[i].tag;
            const TagPlan& t = tags_[k];
            if (auto e = type_errors.find(k); e != type_errors.end()) {
                results[i] = tag_error(TagErrc::DeviceStatus, e->second);
                continue;
            }
            if (!connected_) {
                results[i] = tag_error(TagErrc::Disconnected, disconnected_text());
                continue;
            }
            if (!t.resolved) {
                results[i] = tag_error(TagErrc::DeviceStatus, unresolved(k));
                continue;
            }
            if (!t.write_type) {
                results[i] = tag_error(TagErrc::Disconnected, disconnected_text());
                continue;
            }
            auto variant = to_variant(items[i].raw, *t.write_type);
            if (!variant) {
                // What the server would answer had we sent it, and why.
                results[i] = tag_error(TagErrc::BadValue, "BadTypeMismatch: " + variant.error());
                continue;
            }
            WriteValue w;
            w.node_id = t.node;
            w.value.value = std::move(*variant);
            request.nodes_to_write.push_back(std::move(w));
            slot.push_back(i);
        }
        if (request.nodes_to_write.empty()) {
            return asio::post(io_, [done = std::move(done), results = std::move(results)]() mutable {
                done(std::move(results));
            });
        }
        ++stats_.requests;
        const uint64_t generation = generation_;
        const size_t count = slot.size();
        link_->call(std::move(request), [this, generation, count, slot = std::move(slot), results = std::move(results),
                                         done = std::move(done), alive = alive_](ClientResult<Response> r) mutable {
            const auto* written = r ? std::get_if<WriteResponse>(&*r) : nullptr;
            for (size_t j = 0; j < slot.size(); ++j) {
                if (!r) {
                    results[slot[j]] = tag_error(TagErrc::Disconnected, r.error().message);
                } else if (written == nullptr || written->results.size() != count) {
                    results[slot[j]] = tag_error(TagErrc::BadReply, "Write answered with another response");
                } else if (!is_good(written->results[j])) {
                    results[slot[j]] = status_error(written->results[j]);
                }
            }
            if (*alive && !r) check_link(generation, r.error());
            if (*alive && written == nullptr && r) ++stats_.bad_replies;
            done(std::move(results));
        });
    }

    // ---------------------------------------------------------- subscriptions
    void subscribe(uint64_t generation, uint32_t g) {
        const GroupConfig& group = config_.groups[g];
        const auto interval = group.interval;
        CreateSubscriptionRequest request;
        request.requested_publishing_interval = static_cast<double>(interval.count());
        const auto keep_alive = std::max<int64_t>(1, kKeepAliveTarget / interval);
        request.requested_max_keep_alive_count = static_cast<uint32_t>(keep_alive);
        // P4 §5.13.2.2: the lifetime count is at least three keep-alive counts;
        // and the subscription outlives a session that timed out, so a new
        // session can take it over (transfer_subscriptions).
        const int64_t outlive = 2 * static_cast<int64_t>(client_config_.session_timeout_ms) / interval.count() + 1;
        request.requested_lifetime_count = static_cast<uint32_t>(std::max<int64_t>(keep_alive * 6, outlive));
        ++stats_.requests;
        link_->call(std::move(request), [this, generation, g, alive = alive_](ClientResult<Response> r) {
            if (!*alive || !current(generation)) return;
            if (!r) return link_lost("CreateSubscription failed: " + r.error().message);
            const auto* created = std::get_if<CreateSubscriptionResponse>(&*r);
            if (created == nullptr) return link_lost("CreateSubscription answered with another response");
            groups_[g].subscription_id = created->subscription_id;
            subscription_groups_[created->subscription_id] = g;
            // A Publish waits at the server for up to a keep-alive; with several
            // queued, the last one waits for each before it.
            const auto keep_alive_ms = static_cast<int64_t>(created->revised_publishing_interval *
                                                            std::max<uint32_t>(1, created->revised_max_keep_alive_count));
            publish_timeout_ = std::max(publish_timeout_, milliseconds(keep_alive_ms * (kPublishesOutstanding + 1)) +
                                                              config_.timeout);
            monitor(generation, g, groups_[g].first);
            while (publishes_out_ < kPublishesOutstanding) publish(generation);
        });
    }

    // CreateMonitoredItems for the group's tags from `from`, in batches the
    // server accepts; a tag the server refuses gets its status as its error.
    void monitor(uint64_t generation, uint32_t g, size_t from) {
        GroupState& group = groups_[g];
        const GroupConfig& config = config_.groups[g];
        CreateMonitoredItemsRequest request;
        request.subscription_id = group.subscription_id;
        request.timestamps_to_return = TimestampsToReturn::Neither;
        std::vector<size_t> batch;
        const size_t most = std::min(monitor_batch_, group.first + group.count - from);
        request.items_to_create.reserve(most);
        batch.reserve(most);
        size_t k = from;
        for (; k < group.first + group.count && batch.size() < monitor_batch_; ++k) {
            TagPlan& t = tags_[k];
            if (!t.readable) continue;
            if (!t.resolved) {
                news_of(g, k).fail(static_cast<uint16_t>(TagErrc::DeviceStatus), unresolved(k));
                continue;
            }
            MonitoredItemCreateRequest item;
            item.item_to_monitor = read_id(t.node);
            item.requested_parameters.client_handle = static_cast<uint32_t>(k);
            item.requested_parameters.sampling_interval = static_cast<double>(config.interval.count());
            item.requested_parameters.queue_size = config.queue_size;
            if (config.deadband > 0) {
                DataChangeFilter filter;
                filter.deadband_type = static_cast<uint32_t>(DeadbandType::Absolute);
                filter.deadband_value = config.deadband;
                item.requested_parameters.filter = make_extension_object(filter);
            }
            request.items_to_create.push_back(std::move(item));
            batch.push_back(k);
        }
        push(g);
        if (batch.empty()) return;
        const size_t next = k;
        const size_t count = batch.size();
        call_for_batch<CreateMonitoredItemsResponse>(
            generation, std::move(request), "CreateMonitoredItems", count,
            [this, generation, g, next, batch = std::move(batch)](const CreateMonitoredItemsResponse& created) {
                GroupState& group = groups_[g];
                for (size_t i = 0; i < batch.size(); ++i) {
                    if (is_bad(created.results[i].status_code)) {
                        news_of(g, batch[i]).fail(static_cast<uint16_t>(TagErrc::DeviceStatus),
                                                      describe(created.results[i].status_code));
                    }
                }
                push(g);
                if (next < group.first + group.count) monitor(generation, g, next);
            });
    }

    void publish(uint64_t generation) {
        PublishRequest request;
        request.subscription_acknowledgements = std::move(acks_);
        acks_.clear();
        ++publishes_out_;
        ++stats_.requests;
        link_->call(
            std::move(request),
            [this, generation, alive = alive_](ClientResult<Response> r) {
                if (!*alive || !current(generation)) return;
                --publishes_out_;
                if (!r) {
                    // P4 §5.13.5.3: the server holds too many, or no subscription
                    // is left: send no more; anything else means the link.
                    if (r.error().status == status::BadNoSubscription) {
                        // A taken-over session whose subscriptions the server
                        // has dropped meanwhile: make them anew.
                        if (!subscription_groups_.empty()) resubscribe(generation);
                        return;
                    }
                    if (r.error().status.value >> 16 == 0x80780000u >> 16) return;  // BadTooManyPublishRequests
                    return link_lost(r.error().status == status::BadTimeout
                                         ? "the server stopped answering Publish (no keep-alive): " + r.error().message
                                         : "Publish failed: " + r.error().message);
                }
                if (const auto* p = std::get_if<PublishResponse>(&*r)) on_publish(generation, *p);
                else ++stats_.bad_replies;
                while (current(generation) && publishes_out_ < kPublishesOutstanding) publish(generation);
            },
            publish_timeout_);
    }

    void resubscribe(uint64_t generation) {
        forget_subscriptions();
        subscribe_missing(generation);
    }

    // P4 §5.13.1.1: messages are numbered one by one per subscription; a
    // keep-alive carries the number the next message will have. A number
    // beyond the next expected one means messages were lost with the old
    // channel: those the server still holds (availableSequenceNumbers) are
    // asked for again, in order, before this one is taken in.
    void on_publish(uint64_t generation, const PublishResponse& p) {
        auto it = subscription_groups_.find(p.subscription_id);
        if (it == subscription_groups_.end()) return;  // a subscription of an earlier session
        const uint32_t g = it->second;
        GroupState& group = groups_[g];
        const NotificationMessage& m = p.notification_message;
        if (group.recovering) {
            if (!m.notification_data.empty()) group.held.push_back(m);
            return;
        }
        std::vector<uint32_t> missed;
        if (group.last_sequence != 0) {
            for (uint32_t s : p.available_sequence_numbers) {
                if (s > group.last_sequence && s < m.sequence_number) missed.push_back(s);
            }
            std::sort(missed.begin(), missed.end());
        }
        if (missed.empty()) return take_in(g, p.subscription_id, m);
        group.recovering = true;
        if (!m.notification_data.empty()) group.held.push_back(m);
        republish(generation, g, p.subscription_id, std::move(missed), 0);
    }

    void republish(uint64_t generation, uint32_t g, uint32_t subscription, std::vector<uint32_t> missed, size_t next) {
        GroupState& group = groups_[g];
        if (next == missed.size()) {
            group.recovering = false;
            auto held = std::move(group.held);
            group.held.clear();
            for (const NotificationMessage& m : held) {
                if (!current(generation)) return;
                take_in(g, subscription, m);
            }
            return;
        }
        RepublishRequest request;
        request.subscription_id = subscription;
        request.retransmit_sequence_number = missed[next];
        ++stats_.requests;
        link_->call(std::move(request), [this, generation, g, subscription, missed = std::move(missed), next,
                                         alive = alive_](ClientResult<Response> r) mutable {
            if (!*alive || !current(generation)) return;
            if (r) {
                if (const auto* again = std::get_if<RepublishResponse>(&*r)) {
                    ++stats_.republishes;
                    take_in(g, subscription, again->notification_message);
                    if (!current(generation)) return;  // it ended the subscription
                } else {
                    ++stats_.bad_replies;
                }
            } else if (link_is_gone(r.error().status)) {
                return link_lost("Republish failed: " + r.error().message);
            }
            // BadMessageNotAvailable: the server no longer has it; go on with the rest.
            republish(generation, g, subscription, std::move(missed), next + 1);
        });
    }

    // One notification message of group g's subscription: acknowledged with
    // the next Publish, its changes published in order.
    void take_in(uint32_t g, uint32_t subscription, const NotificationMessage& m) {
        GroupState& group = groups_[g];
        if (m.notification_data.empty()) return;
        group.last_sequence = std::max(group.last_sequence, m.sequence_number);
        acks_.push_back({subscription, m.sequence_number});
        for (const ExtensionObject& data : m.notification_data) {
            if (data.type_id == NodeId{0, StatusChangeNotification::kEncodingId}) {
                auto change = decode_extension_object_body<StatusChangeNotification>(data);
                return link_lost("the server ended the subscription: " +
                                 (change ? describe(change->status) : std::string("status change")));
            }
            auto changes = decode_extension_object_body<DataChangeNotification>(data);
            if (!changes) {
                ++stats_.bad_replies;  // events, or a notification we cannot read: not ours to publish
                continue;
            }
            group.news.reserve(group.news.size() + changes->monitored_items.size());
            for (const MonitoredItemNotification& n : changes->monitored_items) {
                if (n.client_handle < group.first || n.client_handle >= group.first + group.count) continue;
                ++stats_.notifications;
                fill(news_of(g, n.client_handle), n.value);
            }
        }
        push(g);
    }

    // The reading tag k (of group g) next has news in. A tag that already has news
    // (several changes of one tag in a queue) pushes it first: each change goes
    // out, in order.
    TagReading& news_of(uint32_t g, size_t k) {
        GroupState& group = groups_[g];
        const auto index = static_cast<uint32_t>(k - group.first);
        if (group.in_news[index]) push(g);
        group.in_news[index] = true;
        return group.news.emplace_back(TagNews{index, {}}).reading;
    }

    void push(uint32_t g) {
        GroupState& group = groups_[g];
        if (!group.news.empty()) {
            events_.on_readings(g, group.news);
            for (const TagNews& n : group.news) group.in_news[n.tag] = false;
        }
        // Also when there was nothing to push: room reserved for a message's
        // changes that were not ours is given back too.
        clear_keeping_room(group.news, kNewsKept);
    }

    // ----------------------------------------------------------------- browse
    void browse_collect(ClientResult<Response> r, std::shared_ptr<std::vector<ReferenceDescription>> refs, int round,
                        std::function<void(BrowseOutcome)> done) {
        if (!r) return done(std::unexpected(tag_error(TagErrc::Disconnected, r.error().message)));
        const std::vector<BrowseResult>* results = nullptr;
        if (const auto* b = std::get_if<BrowseResponse>(&*r)) results = &b->results;
        if (const auto* b = std::get_if<BrowseNextResponse>(&*r)) results = &b->results;
        if (results == nullptr || results->size() != 1) {
            return done(std::unexpected(tag_error(TagErrc::BadReply, "Browse answered with another response")));
        }
        const BrowseResult& result = results->front();
        if (is_bad(result.status_code)) return done(std::unexpected(status_error(result.status_code)));
        refs->insert(refs->end(), result.references.begin(), result.references.end());
        if (!result.continuation_point.empty() && connected_) {
            BrowseNextRequest next;
            // Past the bound the server's continuation point is released, not followed.
            next.release_continuation_points = round + 1 >= kMaxBrowseRounds;
            next.continuation_points.push_back(result.continuation_point);
            if (!next.release_continuation_points) {
                ++stats_.requests;
                link_->call(std::move(next), [this, refs, round, done = std::move(done), alive = alive_](
                                                 ClientResult<Response> r2) mutable {
                    if (!*alive) return done(std::unexpected(tag_error(TagErrc::Cancelled, "the device was stopped")));
                    browse_collect(std::move(r2), refs, round + 1, std::move(done));
                });
                return;
            }
        }
        browse_details(std::move(refs), std::move(done));
    }

    // The DataType and AccessLevel of the variables found, then the JSON.
    void browse_details(std::shared_ptr<std::vector<ReferenceDescription>> refs,
                        std::function<void(BrowseOutcome)> done) {
        std::vector<ReadValueId> nodes;
        std::vector<size_t> of;  // refs index of nodes[2i]
        for (size_t i = 0; i < refs->size(); ++i) {
            const ReferenceDescription& ref = (*refs)[i];
            if (ref.node_class != NodeClass::Variable || ref.node_id.server_index != 0 ||
                !ref.node_id.namespace_uri.empty()) {
                continue;
            }
            nodes.push_back(read_id(ref.node_id.node, AttributeId::DataType));
            nodes.push_back(read_id(ref.node_id.node, AttributeId::AccessLevel));
            of.push_back(i);
        }
        auto render = [refs, of, done = std::move(done)](const std::vector<DataValue>* details) {
            std::string out;
            JsonWriter w(out);
            w.begin_array();
            size_t next = 0;
            for (size_t i = 0; i < refs->size(); ++i) {
                const ReferenceDescription& ref = (*refs)[i];
                const std::string browse_name =
                    ref.browse_name.ns == 0 ? ref.browse_name.name
                                            : std::to_string(ref.browse_name.ns) + ":" + ref.browse_name.name;
                w.begin_object()
                    .field("node_id", to_string(ref.node_id))
                    .field("browse_name", browse_name)
                    .field("display_name", ref.display_name.text)
                    .field("node_class", node_class_name(ref.node_class));
                if (details != nullptr && next < of.size() && of[next] == i) {
                    const DataValue& type = (*details)[2 * next];
                    const DataValue& access = (*details)[2 * next + 1];
                    if (const auto* ids = std::get_if<std::vector<NodeId>>(&type.value.values); ids && !ids->empty()) {
                        const NodeId& t = ids->front();
                        const auto* num = std::get_if<uint32_t>(&t.id);
                        w.field("data_type", t.ns == 0 && num && *num >= 1 && *num <= 25
                                                 ? std::string(builtin_name(static_cast<BuiltinType>(*num)))
                                                 : to_string(t));
                    }
                    if (const auto* bits = std::get_if<std::vector<uint8_t>>(&access.value.values); bits && !bits->empty()) {
                        // P3 §8.57: bit 0 CurrentRead, bit 1 CurrentWrite.
                        const bool r = (bits->front() & 1) != 0;
                        const bool wr = (bits->front() & 2) != 0;
                        w.field("access_level", r && wr ? "rw" : r ? "read" : wr ? "write" : "none");
                    }
                    ++next;
                }
                w.end_object();
            }
            w.end_array();
            done(std::move(out));
        };
        if (nodes.empty() || !connected_) return render(nullptr);
        read_batched(std::move(nodes), [render = std::move(render)](ClientResult<std::vector<DataValue>> r) mutable {
            render(r ? &*r : nullptr);
        });
    }

    // A Read of any number of nodes, sent as Reads of at most MaxNodesPerRead
    // one after the other; the results in order, or the first failure.
    struct Batches {
        std::vector<ReadValueId> nodes;
        std::vector<DataValue> results;
        std::function<void(ClientResult<std::vector<DataValue>>)> done;
    };

    void read_batched(std::vector<ReadValueId> nodes,
                      std::function<void(ClientResult<std::vector<DataValue>>)> done) {
        read_next_batch(std::make_shared<Batches>(Batches{std::move(nodes), {}, std::move(done)}));
    }

    void read_next_batch(const std::shared_ptr<Batches>& state) {
        const size_t first = state->results.size();
        const size_t total = state->nodes.size();
        if (first == total) return state->done(std::move(state->results));
        if (!link_) return state->done(std::unexpected(ClientError{status::BadServerNotConnected, disconnected_text()}));
        const size_t count = std::min(read_batch_, total - first);
        std::vector<ReadValueId> batch(state->nodes.begin() + static_cast<std::ptrdiff_t>(first),
                                       state->nodes.begin() + static_cast<std::ptrdiff_t>(first + count));
        call_read(std::move(batch), [this, state, alive = alive_](ClientResult<std::vector<DataValue>> r) {
            if (!*alive) {
                return state->done(std::unexpected(ClientError{status::BadConnectionClosed, "the device was stopped"}));
            }
            if (!r.has_value()) return state->done(std::move(r));
            if (state->results.empty()) {
                state->results = std::move(r.value());
            } else {
                for (size_t i = 0; i < r->size(); ++i) state->results.push_back(std::move((*r)[i]));
            }
            read_next_batch(state);
        });
    }

    asio::io_context& io_;
    const DeviceConfig& config_;
    DriverEvents& events_;
    const ClientConfig client_config_;
    asio::steady_timer reconnect_timer_;
    asio::steady_timer watch_timer_;  // the next read of the server's state

    std::vector<TagPlan> tags_;
    std::vector<GroupState> groups_;
    std::shared_ptr<ClientLink> link_;
    std::vector<std::string> namespaces_;
    std::unordered_map<size_t, std::string> unresolved_;  // tag → why it has no node
    size_t read_batch_ = kDefaultBatch;
    size_t monitor_batch_ = kDefaultBatch;
    std::map<uint32_t, uint32_t> subscription_groups_;  // subscription id → group
    std::vector<SubscriptionAcknowledgement> acks_;
    std::optional<SessionHandle> resume_;  // the session of the lost link, to take over
    int publishes_out_ = 0;
    milliseconds publish_timeout_{0};

    bool connected_ = false;
    bool stopped_ = true;
    // Bumped whenever the link is dropped, so callbacks of an old link do nothing.
    uint64_t generation_ = 0;
    ReconnectBackoff backoff_;
    std::string last_error_;
    mutable DriverStats stats_;  // stats() adds the link's renewals
    uint64_t renewals_of_old_links_ = 0;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace

std::unique_ptr<Driver> make_opcua_driver(asio::io_context& io, const DeviceConfig& config, DriverEvents& events,
                                          std::string pki_dir) {
    return std::make_unique<OpcUaDriver>(io, config, events, std::move(pki_dir));
}

std::string check_tag_address(const DeviceConfig&, const TagConfig& tag) {
    if (is_browse_path(tag.address())) {
        auto path = parse_browse_path(tag.address());
        if (!path) {
            return "not a browse path (/2:Line1/2:Temp) at character " + std::to_string(path.error().offset) + ": " +
                   std::string(path.error().message);
        }
        return {};
    }
    auto id = parse_expanded_node_id(tag.address());
    if (!id) return "not a NodeId (ns=2;s=Line1.Temp, i=2258, nsu=urn:...;s=...): " + std::string(id.error().message);
    if (id->server_index != 0) return "svr= (a node on another server) is not supported";
    return {};
}

}  // namespace ib::drivers::opcua
