// CONNECT policy: what a CONNECT must satisfy, the login, the session it takes
// over or resumes, and the CONNACK; and, at the other end, what happens to the
// session when its connection ends. Authorization after CONNECT (the ACL) is in
// connection_auth.cpp; no I/O here beyond queueing the CONNACK.
#include <random>

#include "core/log.hpp"
#include "mqtt/broker/broker_core.hpp"

namespace ib::mqtt::broker {

namespace {
using codec::Version;
namespace rc = codec::reason;
}  // namespace

void Connection::handle_connect(codec::Connect& c) {
    if (!take_username_from_certificate(c)) return;
    version_ = c.version;
    std::string client_id(c.client_id);
    bool assigned = false;
    if (!connect_acceptable(c, client_id, assigned)) return;
    const std::size_t target = shard_.core.shard_for_client(client_id);
    if (target != shard_.index) {
        // Everything from here runs on the session's shard, the CONNECT
        // included (Connection::migrate), so a take-over needs no lock.
        migrate_to_ = target + 1;
        return;
    }
    if (!authenticate(c, client_id)) return;

    const BrokerConfig& cfg = shard_.core.config;
    state_ = State::Connected;
    keep_alive_s_ = c.keep_alive;
    bool keep_alive_overridden = false;
    if (version_ == Version::V5 && cfg.server_keep_alive != 0 && cfg.server_keep_alive != c.keep_alive) {
        keep_alive_s_ = cfg.server_keep_alive;
        keep_alive_overridden = true;
    }
    const auto& props = c.properties;
    send_quota_ = cfg.max_inflight;
    if (version_ == Version::V5) {
        if (props.receive_maximum) send_quota_ = std::min<uint16_t>(send_quota_, *props.receive_maximum);
        if (props.maximum_packet_size) client_max_packet_size_ = *props.maximum_packet_size;
        if (props.topic_alias_maximum.value_or(0) > 0) {
            aliases_ = std::make_unique<Aliases>();
            aliases_->client_max = *props.topic_alias_maximum;
        }
    }
    uint32_t expiry = 0;
    bool expiry_capped = false;
    if (version_ == Version::V5) {
        expiry = props.session_expiry_interval.value_or(0);
        if (expiry > cfg.max_session_expiry && expiry != UINT32_MAX) {
            expiry = cfg.max_session_expiry;
            expiry_capped = true;
        }
    } else {
        // 3.1.1: CleanSession 0 keeps the session until the client ends it.
        expiry = c.clean_start ? 0 : UINT32_MAX;
    }

    if (c.will) {
        MessageInit w;
        w.topic = c.will->topic;
        w.payload = c.will->payload;
        w.qos = c.will->qos;
        w.retain = c.will->retain;
        w.forward_properties(c.will->properties);
        cold().will = WillMessage{Message::make(w, Clock::now()), c.will->properties.will_delay_interval.value_or(0)};
    }

    bool session_present = false;
    Session* session = take_over_or_resume(client_id, c.clean_start, expiry, session_present);

    codec::Connack ack;
    ack.session_present = session_present;
    ack.reason_code = 0;
    if (version_ == Version::V5) {
        auto& ap = ack.properties;
        if (expiry_capped) ap.session_expiry_interval = expiry;
        ap.receive_maximum = cfg.receive_maximum;
        if (cfg.maximum_qos < 2) ap.maximum_qos = cfg.maximum_qos;
        if (!cfg.retain_available) ap.retain_available = 0;
        ap.maximum_packet_size = cfg.max_packet_size;
        if (assigned) ap.assigned_client_identifier = std::string_view(session->client_id());
        ap.topic_alias_maximum = cfg.topic_alias_maximum;
        if (keep_alive_overridden) ap.server_keep_alive = keep_alive_s_;
    }
    codec::encode(out_, ack, version_);
    mark_dirty();
    give_back_output_ = true;
    log::debug("mqtt: {} connected as '{}' (MQTT {}, keep-alive {} s, session {})", peer_, session->client_id(),
               version_ == Version::V5 ? "5.0" : version_ == Version::V311 ? "3.1.1" : "3.1", keep_alive_s_,
               session_present ? "resumed" : "new");
    if (listener().config.tls_cn_as_username)
        log::info("mqtt: {} connected as '{}' with username '{}' from its client certificate", peer_,
                  session->client_id(), peer_cert_cn());
    if (session_present) {
        revoke_denied_subscriptions();
        session->resend_inflight();
    }
    session->pump();
}

bool Connection::take_username_from_certificate(codec::Connect& c) {
    if (!listener().config.tls_cn_as_username) return true;
    // The verified certificate names the user; whatever the client put in
    // CONNECT does not.
    const std::string_view cn = peer_cert_cn();
    if (cn.empty()) {
        refuse_connect(rc::kNotAuthorized, codec::v3_connack::kNotAuthorized,
                       "no client certificate CN to take the username from");
        return false;
    }
    c.username = cn;
    return true;
}

bool Connection::connect_acceptable(const codec::Connect& c, std::string& client_id, bool& assigned) {
    const BrokerConfig& cfg = shard_.core.config;
    if (client_id.empty()) {
        // [MQTT-3.1.3-8] 3.1.1: an empty id with CleanSession 0 is rejected.
        if (version_ != Version::V5 && !c.clean_start) {
            refuse_connect(rc::kClientIdentifierNotValid, codec::v3_connack::kIdentifierRejected,
                           "empty client id with a persistent session");
            return false;
        }
        // [MQTT-3.1.3-6] Assign a unique id, chosen so it belongs to this shard
        // and the connection need not move.
        static thread_local std::mt19937_64 rng{std::random_device{}()};
        do {
            client_id = fmt::format("ib-{:016x}", rng());
        } while (shard_.core.shard_for_client(client_id) != shard_.index);
        assigned = true;
    }
    if (shard_.core.auth == nullptr && !listener().config.allow_anonymous.value_or(cfg.allow_anonymous) &&
        !c.username) {
        refuse_connect(rc::kNotAuthorized, codec::v3_connack::kNotAuthorized, "anonymous clients not allowed");
        return false;
    }
    if (c.properties.authentication_method) {
        refuse_connect(rc::kBadAuthenticationMethod, 0xFF, "enhanced authentication is not supported");
        return false;
    }
    if (c.will) {
        // [MQTT-3.2.2-13] [MQTT-3.2.2-12] A will we could not publish as asked
        // is refused now, not dropped later.
        if (c.will->retain && !cfg.retain_available) {
            refuse_connect(rc::kRetainNotSupported, codec::v3_connack::kNotAuthorized, "retain not available");
            return false;
        }
        if (c.will->qos > cfg.maximum_qos) {
            refuse_connect(rc::kQosNotSupported, codec::v3_connack::kNotAuthorized, "will QoS not supported");
            return false;
        }
    }
    return true;
}

bool Connection::authenticate(const codec::Connect& c, std::string_view client_id) {
    // Checked on the session's shard only, so a password is verified once.
    auth::Auth* a = shard_.core.auth;
    if (a == nullptr) return true;
    std::optional<std::string_view> password;
    if (c.password) password = std::string_view(reinterpret_cast<const char*>(c.password->data()), c.password->size());
    // On a tls_cn_as_username listener the user name is the CN of a certificate
    // the handshake verified: that is the authentication, no password is asked.
    const bool by_certificate = listener().config.tls_cn_as_username && c.username.has_value();
    switch (by_certificate ? auth::LoginResult::Ok
                           : a->login(listener().config.name, c.username.has_value(), c.username.value_or(""), password,
                                      peer_address())) {
        case auth::LoginResult::Ok:
            cold().username = std::string(*c.username);
            break;
        case auth::LoginResult::Anonymous:
            break;
        case auth::LoginResult::BadCredentials:
            refuse_connect(rc::kBadUserNameOrPassword, codec::v3_connack::kBadUserNameOrPassword,
                           "bad user name or password");
            return false;
        case auth::LoginResult::NotAuthorized:
            refuse_connect(rc::kNotAuthorized, codec::v3_connack::kNotAuthorized, "anonymous clients not allowed");
            return false;
        case auth::LoginResult::RateLimited:
            refuse_connect(rc::kNotAuthorized, codec::v3_connack::kNotAuthorized,
                           "too many failed logins from this address");
            return false;
    }
    compile_acl(client_id);
    if (acl_ && c.will && !acl_->may_publish(c.will->topic)) {
        a->count_publish_denied();
        refuse_connect(rc::kNotAuthorized, codec::v3_connack::kNotAuthorized, "will topic not authorized");
        return false;
    }
    return true;
}

Session* Connection::take_over_or_resume(const std::string& client_id, bool clean_start, uint32_t expiry,
                                         bool& present) {
    // Session take-over ([MQTT-3.1.4-3]): the existing connection is closed
    // first, which may end its session when that session does not outlive it.
    if (Session* existing = shard_.sessions.find(std::string_view(client_id))) {
        if (Connection* old = existing->connection()) {
            old->disconnect_with(rc::kSessionTakenOver, "session taken over");
        }
    }
    Session* session = shard_.sessions.find(std::string_view(client_id));
    if (session) {
        if (clean_start) {
            shard_.destroy_session(session);
            session = nullptr;
        }
    }
    present = session != nullptr;
    if (!session) {
        SubscriberId id = shard_.new_session_id(expiry > 0);
        session = &shard_.sessions.insert(Session::make(shard_, id, client_id));
        shard_.core.sessions_current.add();
    }
    session->expiry_interval_s = expiry;
    session->attach(this);
    session_ = session;
    return session;
}

void Connection::refuse_connect(uint8_t v5_reason, uint8_t v3_code, std::string_view why) {
    codec::Connack ack;
    if (version_ == Version::V5) {
        ack.reason_code = v5_reason;
        ack.properties.reason_string = why;
        codec::encode(out_, ack, Version::V5);
    } else if (v3_code != 0xFF) {
        ack.reason_code = v3_code;
        codec::encode(out_, ack, version_);
    }
    mark_dirty();
    close_gracefully(why);
}

void Connection::end_session_link(bool send_will) {
    Session* s = std::exchange(session_, nullptr);
    if (!s) return;
    s->detach();
    if (cold_ && cold_->will) {
        std::optional<WillMessage>& will = cold_->will;
        if (send_will) {
            // [MQTT-3.1.3-9] A delayed will waits for the delay or the end of the
            // session, whichever comes first.
            if (will->delay_s > 0 && s->expiry_interval_s > 0) {
                s->set_will(std::move(*will));
            } else {
                shard_.route(will->msg);
            }
        }
        will.reset();
    }
    if (s->expiry_interval_s == 0) {
        shard_.destroy_session(s);
    } else {
        shard_.schedule_expiry(*s);
    }
}

}  // namespace ib::mqtt::broker
