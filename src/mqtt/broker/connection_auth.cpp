// Authorization of one connection: the ACL compiled for it at CONNECT, checked on
// every PUBLISH and SUBSCRIBE, and compiled again after a reload. The login
// itself is CONNECT policy (connect_policy.cpp); the protocol handler only calls
// in here.
#include "core/log.hpp"
#include "mqtt/broker/broker_core.hpp"
#include "mqtt/broker/topic_match.hpp"

namespace ib::mqtt::broker {

namespace rc = codec::reason;

std::string_view Connection::peer_address() const {
    // peer_ is "address:port"; an IPv6 address is not bracketed, so the port
    // starts after the last ':'.
    std::string_view p = peer_;
    auto colon = p.rfind(':');
    return colon == std::string_view::npos ? p : p.substr(0, colon);
}

void Connection::compile_acl(std::string_view client_id) {
    auth::Auth* a = shard_.core.auth;
    if (a == nullptr) return;
    // Read before compiling: a reload in between only causes one more compile.
    acl_generation_ = a->generation();
    const std::string_view username = cold_ ? std::string_view(cold_->username) : std::string_view{};
    auto compiled = a->compile(auth::ClientIdentity{username, client_id, peer_address()});
    acl_ = compiled.get();
    if (compiled || cold_) cold().acl = std::move(compiled);
}

void Connection::refresh_acl() {
    auth::Auth* a = shard_.core.auth;
    if (a == nullptr || a->generation() == acl_generation_) return;  // per packet: one atomic load
    if (session_ == nullptr) return;
    compile_acl(session_->client_id());
    revoke_denied_subscriptions();
}

void Connection::revoke_denied_subscriptions() {
    if (!acl_ || session_ == nullptr) return;
    // Subscriptions made under older rules (before a reload, or a resumed
    // session's) are held to the current ones: a revoked right stops delivery.
    std::vector<TreeChange> changes;
    if (session_->subscriptions().empty()) return;
    auto& subs = session_->subscriptions_mut();
    for (auto it = subs.begin(); it != subs.end();) {
        auto shared = parse_shared(it->first);
        std::string_view plain = shared && *shared ? (*shared)->filter : std::string_view(it->first);
        if (acl_->may_subscribe(plain)) {
            ++it;
            continue;
        }
        log::info("mqtt: '{}' ({}) may no longer subscribe to '{}': subscription removed", session_->client_id(),
                  peer_, it->first);
        TreeChange change{false, it->first, Subscription{session_->id(), {}}};
        shard_.apply(change);
        changes.push_back(std::move(change));
        it = subs.erase(it);
    }
    if (!changes.empty()) shard_.core.replicate(shard_.index, std::move(changes), nullptr);
}

bool Connection::publish_denied(const codec::Publish& p) {
    if (!acl_ || acl_->may_publish(p.topic)) return false;
    auth::Auth& a = *shard_.core.auth;
    a.count_publish_denied();
    IB_LOG_LIMITED_WARN("mqtt: '{}' ({}) may not publish to '{}': dropped", session_->client_id(), peer_, p.topic);
    if (a.disconnect_on_deny()) {
        disconnect_with(rc::kNotAuthorized, "publish not authorized");
        return true;
    }
    if (version_ == codec::Version::V5) {
        // [MQTT-3.4.2.1] 0x87 Not authorized; a PUBREC of 0x80 or more ends the QoS 2 flow.
        if (p.qos == 1) ack_publish(codec::PacketType::Puback, p.packet_id, rc::kNotAuthorized, false);
        if (p.qos == 2) ack_publish(codec::PacketType::Pubrec, p.packet_id, rc::kNotAuthorized, false);
    } else {
        // 3.1.1 has no way to say no: acknowledge as usual, and keep the QoS 2
        // state so the PUBREL that follows completes normally.
        if (p.qos == 1) ack_publish(codec::PacketType::Puback, p.packet_id, 0, false);
        if (p.qos == 2) {
            session_->add_incoming_qos2(p.packet_id, /*store=*/false);
            ack_publish(codec::PacketType::Pubrec, p.packet_id, 0, false);
        }
    }
    return true;
}

}  // namespace ib::mqtt::broker
