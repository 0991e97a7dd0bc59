// The MQTT protocol of one client connection: parsing what the transport
// delivers, one handler per packet type, the acknowledgements of received
// PUBLISHes, and protocol_violation, the one way out for a client that breaks
// the protocol. CONNECT is handled in connect_policy.cpp, the I/O in
// connection_io.cpp.
#include <algorithm>
#include <atomic>

#include "core/log.hpp"
#include "mqtt/broker/broker_core.hpp"
#include "mqtt/broker/topic_match.hpp"

namespace ib::mqtt::broker {

namespace {
using codec::Version;
namespace rc = codec::reason;

uint8_t clamp_qos(uint8_t qos, uint8_t max) { return qos < max ? qos : max; }

// The protocol level of a CONNECT body, read without decoding the rest, so a
// CONNECT that fails to decode is answered in the client's own version.
Version peek_connect_version(Bytes body) {
    if (body.size() < 2) return Version::V311;
    std::size_t name_len = (static_cast<std::size_t>(body[0]) << 8) | static_cast<std::size_t>(body[1]);
    if (body.size() < 2 + name_len + 1) return Version::V311;
    auto level = static_cast<uint8_t>(body[2 + name_len]);
    return level == 5 ? Version::V5 : Version::V311;
}
}  // namespace

std::size_t Connection::process(Bytes data) {
    std::size_t used = 0;
    const uint32_t max_packet = shard_.core.config.max_packet_size;
    while (!closed() && !migrate_to_ && !paused_) {
        Bytes rest = data.subspan(used);
        auto header = codec::decode_frame_header(rest);
        if (!header) {
            on_decode_error(header.error());
            break;
        }
        if (!*header) break;  // need more bytes
        const codec::FrameHeader& h = **header;
        if (h.total_size() > max_packet) {
            // Refused before its body is buffered.
            protocol_violation(Violation::PacketTooLarge,
                               fmt::format("a packet of {} bytes, above max_packet_size {}", h.total_size(), max_packet));
            break;
        }
        if (rest.size() < h.total_size()) break;
        handle_packet(h, rest.subspan(h.header_size, h.remaining_length));
        if (migrate_to_) break;  // the CONNECT is handled again on its own shard
        used += h.total_size();
    }
    return used;
}

void Connection::on_decode_error(const Error& e) {
    protocol_violation(violation_of_decode_error(e.code), e.message, e.offset);
}

void Connection::protocol_violation(Violation reason, std::string_view why, std::optional<std::size_t> offset) {
    if (closed()) return;
    const ViolationInfo& v = info(reason);
    ShardCounters& counters = shard_.counters;
    counters.protocol_violations[static_cast<std::size_t>(reason)].add();
    // The older counters go on counting what they counted before this family existed.
    switch (reason) {
        case Violation::MalformedPacket:
        case Violation::UnsupportedProtocolVersion:
        case Violation::WebSocketFrame:
            counters.malformed_packets.add();
            break;
        case Violation::ProtocolError:
        case Violation::WebSocketUpgrade:
            counters.protocol_errors.add();
            break;
        case Violation::PacketTooLarge:
            counters.packets_too_large.add();
            break;
        default:
            break;
    }
    // One line per second per reason, whatever the number of clients: a flood
    // of one kind cannot hide another.
    static std::array<std::atomic<int64_t>, kViolationCount> last_logged_ms{};
    if (log::detail::allow_once_per_second(last_logged_ms[static_cast<std::size_t>(reason)])) {
        // Before CONNECT is done there is no client id: the peer address names it.
        const std::string_view client = session_ ? std::string_view(session_->client_id()) : std::string_view();
        const std::string where = offset ? fmt::format(" (offset {})", *offset) : std::string();
        if (session_) {
            log::warn("mqtt: '{}' ({}) protocol violation {}: {}{}: closing", client, peer_, v.label, why, where);
        } else {
            log::warn("mqtt: {} protocol violation {}: {}{}: closing", peer_, v.label, why, where);
        }
    }
    if (v.reason_code == 0) {
        // A transport's violation: its own reply (an HTTP status, a WebSocket
        // Close) is already queued.
        close_gracefully(why);
    } else if (state_ == State::AwaitConnect) {
        // 3.1.1 answers a protocol level it does not speak with CONNACK 0x01
        // [MQTT-3.1.2-2], and closes without a CONNACK for any other error in
        // CONNECT [MQTT-3.1.4-1] (0xFF: none).
        const uint8_t v3_code = reason == Violation::UnsupportedProtocolVersion
                                    ? codec::v3_connack::kUnacceptableProtocolVersion
                                    : uint8_t{0xFF};
        refuse_connect(v.reason_code, v3_code, why);
    } else {
        disconnect_with(v.reason_code, why);
    }
}

void Connection::disconnect_with(uint8_t reason_code, std::string_view why) {
    if (closed()) return;
    if (version_ == Version::V5 && state_ == State::Connected) {
        // §4.13.2: a 5.0 server SHOULD say why in a DISCONNECT before it closes.
        codec::Disconnect d;
        d.reason_code = reason_code;
        d.properties.reason_string = why;
        codec::encode(out_, d, Version::V5);
    }
    close_gracefully(why);
}

void Connection::handle_packet(const codec::FrameHeader& h, Bytes body) {
    if (state_ == State::AwaitConnect) {
        if (h.type() != codec::PacketType::Connect) {
            // [MQTT-3.1.0-1] The first packet from the client MUST be CONNECT.
            // Its version is unknown, so nothing is answered.
            protocol_violation(Violation::ProtocolError, "first packet is not CONNECT");
            return;
        }
        version_ = peek_connect_version(body);
    } else if (h.type() == codec::PacketType::Connect) {
        // [MQTT-3.1.0-2] A second CONNECT is a protocol error.
        protocol_violation(Violation::ProtocolError, "second CONNECT");
        return;
    } else {
        refresh_acl();  // one atomic load unless users and ACL were reloaded
    }
    if (h.type() == codec::PacketType::Publish) {
        // Most packets: decoded into its own struct, not into the Packet variant.
        if (version_ != codec::Version::V5) {
            // Into the shard's Publish for 3.1.1, whose properties stay empty.
            // Nothing decodes another packet on this shard before handle_publish
            // returns (its deliveries only write).
            codec::Publish& p = shard_.publish_in_v311;
            if (auto done = codec::decode_publish_into(h, body, version_, p); !done) {
                on_decode_error(done.error());
                return;
            }
            handle_publish(p);
            return;
        }
        auto p = codec::decode_publish(h, body, version_);
        if (!p) {
            on_decode_error(p.error());
            return;
        }
        handle_publish(*p);
        return;
    }
    auto decoded = codec::decode_packet(h, body, version_);
    if (!decoded) {
        on_decode_error(decoded.error());
        return;
    }
    std::visit(
        [&](auto& p) {
            using T = std::decay_t<decltype(p)>;
            if constexpr (std::is_same_v<T, codec::Connect>) {
                handle_connect(p);
            } else if constexpr (std::is_same_v<T, codec::Publish>) {
                handle_publish(p);
            } else if constexpr (std::is_same_v<T, codec::Ack>) {
                switch (p.type) {
                    case codec::PacketType::Puback:
                        handle_puback(p);
                        break;
                    case codec::PacketType::Pubrec:
                        handle_pubrec(p);
                        break;
                    case codec::PacketType::Pubrel:
                        handle_pubrel(p);
                        break;
                    case codec::PacketType::Pubcomp:
                        handle_pubcomp(p);
                        break;
                    default:
                        break;
                }
            } else if constexpr (std::is_same_v<T, codec::Subscribe>) {
                handle_subscribe(p);
            } else if constexpr (std::is_same_v<T, codec::Unsubscribe>) {
                handle_unsubscribe(p);
            } else if constexpr (std::is_same_v<T, codec::Pingreq>) {
                handle_pingreq();
            } else if constexpr (std::is_same_v<T, codec::Disconnect>) {
                handle_disconnect(p);
            } else if constexpr (std::is_same_v<T, codec::Auth>) {
                // Enhanced authentication is not offered (no method is accepted
                // in CONNECT), so an AUTH packet is a protocol error.
                protocol_violation(Violation::ProtocolError, "AUTH without an authentication method");
            } else {
                // CONNACK, SUBACK, UNSUBACK, PINGRESP go server → client only.
                protocol_violation(Violation::ProtocolError, "packet type not sent by clients");
            }
        },
        *decoded);
}

void Connection::handle_publish(codec::Publish& p) {
    const BrokerConfig& cfg = shard_.core.config;
    if (p.qos > cfg.maximum_qos) {
        // [MQTT-3.2.2-11] QoS above the announced Maximum QoS.
        protocol_violation(Violation::QosNotSupported, "QoS not supported");
        return;
    }
    if (p.retain && !cfg.retain_available) {
        // [MQTT-3.2.2-14] Retain when Retain Available was 0.
        protocol_violation(Violation::RetainNotSupported, "retain not available");
        return;
    }
    if (p.properties.subscription_id_count > 0) {
        // [MQTT-3.3.4-6] A PUBLISH from a client carries no Subscription Identifier.
        protocol_violation(Violation::ProtocolError, "subscription identifier in a client PUBLISH");
        return;
    }
    if (p.properties.payload_format_indicator == 1 && !codec::valid_utf8(as_string_view(p.payload))) {
        // [MQTT-3.3.2-4] A payload announced as UTF-8 that is not: 0x99.
        if (p.qos == 0) {
            protocol_violation(Violation::PayloadFormatInvalid, "payload is not UTF-8 as its format indicator says");
            return;
        }
        ack_publish(p.qos == 1 ? codec::PacketType::Puback : codec::PacketType::Pubrec, p.packet_id,
                    rc::kPayloadFormatInvalid, false);
        return;
    }
    if (version_ == Version::V5 && p.properties.topic_alias) {
        const uint16_t alias = *p.properties.topic_alias;
        // [MQTT-3.3.2-9] 0 or above our Topic Alias Maximum is an error.
        if (alias == 0 || alias > cfg.topic_alias_maximum) {
            protocol_violation(Violation::TopicAliasInvalid, "topic alias out of range");
            return;
        }
        if (!aliases_) aliases_ = std::make_unique<Aliases>();
        auto& in_aliases = aliases_->incoming;
        if (in_aliases.size() <= alias) in_aliases.resize(std::size_t{cfg.topic_alias_maximum} + 1);
        if (!p.topic.empty()) {
            in_aliases[alias].assign(p.topic);
        } else if (in_aliases[alias].empty()) {
            protocol_violation(Violation::ProtocolError, "unknown topic alias");
            return;
        }
        p.topic = in_aliases[alias];
    }
    if (p.topic.empty()) {
        protocol_violation(Violation::ProtocolError, "empty topic without an alias");
        return;
    }
    auto ack = [&](codec::PacketType type, uint8_t reason, bool hold = false) {
        ack_publish(type, p.packet_id, reason, hold);
    };
    if (p.qos != 0) {
        if (p.qos == 2 && session_->incoming_qos2_pending(p.packet_id)) {
            // [MQTT-4.3.3-10] A duplicate is acknowledged again, not routed again.
            ack(codec::PacketType::Pubrec, 0);
            return;
        }
        // [MQTT-3.3.4-7] The client may have at most our Receive Maximum of
        // QoS 1 and 2 PUBLISHes that we have not answered with PUBACK or
        // PUBCOMP; one more is answered with DISCONNECT 0x93 (§3.3.4, §4.9).
        if (session_->incoming_qos2_count() + held_pubacks_ >= cfg.receive_maximum) {
            protocol_violation(Violation::ReceiveMaximumExceeded, "receive maximum exceeded");
            return;
        }
    }
    shard_.counters.messages_in[p.qos].add();
    // A topic of n bytes has at most n + 1 levels: most are too short to count.
    if (p.topic.size() >= cfg.max_topic_depth && topic_depth(p.topic) > cfg.max_topic_depth) {
        shard_.counters.dropped_topic_too_deep.add();
        IB_LOG_LIMITED_WARN("mqtt: {} published to a topic deeper than max_topic_depth {}: dropped", peer_,
                            cfg.max_topic_depth);
        if (p.qos == 1) ack(codec::PacketType::Puback, rc::kTopicNameInvalid);
        if (p.qos == 2) ack(codec::PacketType::Pubrec, rc::kTopicNameInvalid);
        return;
    }
    if (p.topic.front() == '$' && shard_.core.file_transfer && is_file_transfer_topic(p.topic)) {
        handle_file_command(p);
        return;
    }
    if (p.topic.front() == '$') {
        // $-topics belong to the broker ($SYS); clients cannot publish there.
        if (p.qos == 1) ack(codec::PacketType::Puback, rc::kNotAuthorized);
        if (p.qos == 2) ack(codec::PacketType::Pubrec, rc::kNotAuthorized);
        return;
    }
    if (publish_denied(p)) return;
    MessageInit init;
    init.topic = p.topic;
    init.payload = p.payload;
    init.qos = p.qos;
    init.retain = p.retain;
    init.origin = session_->id();
    if (version_ == Version::V5) init.forward_properties(p.properties);
    // The time of the read that brought the packet: one clock read per batch.
    const std::size_t matched = shard_.route(init, last_rx_);
    const uint8_t reason = matched == 0 ? rc::kNoMatchingSubscribers : rc::kSuccess;
    // A persistent session's QoS 2 receive state is on disk before its PUBREC.
    const bool durable = shard_.last_route_durable() || (p.qos == 2 && session_->persistent());
    if (p.qos == 1) {
        ack(codec::PacketType::Puback, reason, durable);
    } else if (p.qos == 2) {
        session_->add_incoming_qos2(p.packet_id);
        ack(codec::PacketType::Pubrec, reason, durable);
    }
}

void Connection::handle_file_command(const codec::Publish& p) {
    // Not routed and not retained: the command is the broker's to answer. The
    // ACL applies as for any topic.
    if (publish_denied(p)) return;
    FileTransferHook& hook = *shard_.core.file_transfer;
    FileCommandRequest r;
    r.client_id = session_->client_id();
    r.topic = p.topic;
    r.payload = p.payload;
    r.packet_id = p.packet_id;
    if (version_ == Version::V5) {
        r.response_topic = p.properties.response_topic;
        r.correlation_data = p.properties.correlation_data;
    }
    if (p.qos == 0) {
        hook.on_file_command(r, nullptr, DurableTicket{});
        return;
    }
    auto outcome = std::make_shared<AckOutcome>();
    // The turn's ticket: its acknowledgements go once the hook (and any durable
    // subscriber this turn reached) completed, in PUBLISH order.
    const bool hold = hook.on_file_command(r, outcome, shard_.turn_ticket());
    const auto type = p.qos == 1 ? codec::PacketType::Puback : codec::PacketType::Pubrec;
    if (p.qos == 2) session_->add_incoming_qos2(p.packet_id, /*store=*/false);
    if (hold) {
        ack_publish(type, p.packet_id, 0, true, std::move(outcome));
    } else {
        ack_publish(type, p.packet_id, 0, false);
    }
}

void Connection::ack_publish(codec::PacketType type, uint16_t packet_id, uint8_t reason, bool hold,
                             std::shared_ptr<const AckOutcome> outcome) {
    if (version_ != Version::V5) reason = 0;
    // [MQTT-4.6.0-2] PUBACKs go in the order of their PUBLISHes: once one is
    // held, the ones behind it wait too.
    if (hold || holding_acks_) {
        Cold& c = cold();
        c.held_acks.push_back(HeldAck{type, packet_id, reason, std::move(outcome)});
        holding_acks_ = true;
        ++c.held_total;
        // Receive Maximum is announced to 5.0 clients only.
        if (type == codec::PacketType::Puback && version_ == Version::V5) ++held_pubacks_;
        if (!c.held_registered) {
            c.held_registered = true;
            shard_.hold_acks(ref());
        }
        return;
    }
    codec::encode(out_, codec::Ack{type, packet_id, reason, {}}, version_);
    mark_dirty();
}

void Connection::release_held_acks(uint64_t upto) {
    if (closed() || !cold_) return;  // the client resends what it has no ack for
    Cold& c = *cold_;
    bool any = false;
    while (c.released_total < upto && !c.held_acks.empty()) {
        const HeldAck& a = c.held_acks.front();
        codec::Ack ack{a.type, a.packet_id, a.reason, {}};
        if (a.outcome && version_ == Version::V5) {
            ack.reason_code = a.outcome->reason;
            if (!a.outcome->reason_string.empty()) ack.properties.reason_string = a.outcome->reason_string;
            // [MQTT-4.3.3] A PUBREC of 0x80 or more ends the QoS 2 flow: no PUBREL follows.
            if (a.type == codec::PacketType::Pubrec && ack.reason_code >= 0x80 && session_) {
                session_->remove_incoming_qos2(a.packet_id);
            }
        }
        codec::encode(out_, ack, version_);
        if (a.type == codec::PacketType::Puback && version_ == Version::V5) --held_pubacks_;
        c.held_acks.pop_front();
        holding_acks_ = !c.held_acks.empty();
        ++c.released_total;
        any = true;
    }
    if (any) mark_dirty();
}

void Connection::handle_puback(const codec::Ack& a) { session_->on_puback(a.packet_id); }

void Connection::handle_pubrec(const codec::Ack& a) {
    if (!session_->on_pubrec(a.packet_id, a.reason_code) && version_ == Version::V5) {
        // §4.3.3: answer an unknown PUBREC with PUBREL 0x92.
        codec::encode(out_, codec::Ack{codec::PacketType::Pubrel, a.packet_id, rc::kPacketIdentifierNotFound, {}},
                      version_);
        mark_dirty();
    }
}

void Connection::handle_pubrel(const codec::Ack& a) {
    const uint8_t reason = session_->remove_incoming_qos2(a.packet_id) ? rc::kSuccess : rc::kPacketIdentifierNotFound;
    codec::encode(out_,
                  codec::Ack{codec::PacketType::Pubcomp, a.packet_id, version_ == Version::V5 ? reason : uint8_t{0}, {}},
                  version_);
    mark_dirty();
}

void Connection::handle_pubcomp(const codec::Ack& a) { session_->on_pubcomp(a.packet_id); }

void Connection::handle_subscribe(const codec::Subscribe& s) {
    const BrokerConfig& cfg = shard_.core.config;
    codec::Suback ack;
    ack.packet_id = s.packet_id;
    ack.reason_codes.reserve(s.topics.size());
    const uint32_t sub_id = s.properties.subscription_id_count ? s.properties.subscription_ids[0] : 0;
    struct RetainedRequest {
        std::string filter;
        SubscriptionOptions opts;
    };
    std::vector<RetainedRequest> retained_requests;
    std::vector<TreeChange> changes;
    const bool v5 = version_ == Version::V5;
    for (const auto& t : s.topics) {
        auto refuse = [&](uint8_t v5_reason) { ack.reason_codes.push_back(v5 ? v5_reason : uint8_t{0x80}); };
        auto shared = parse_shared(t.filter);
        if (!shared) {
            refuse(rc::kTopicFilterInvalid);
            continue;
        }
        std::string_view plain = *shared ? (*shared)->filter : t.filter;
        if (!codec::valid_topic_filter(plain) || topic_depth(plain) > cfg.max_topic_depth) {
            refuse(rc::kTopicFilterInvalid);
            continue;
        }
        if (*shared && t.no_local) {
            // [MQTT-3.8.3-4] No Local on a shared subscription is a protocol error.
            protocol_violation(Violation::ProtocolError, "no-local on a shared subscription");
            return;
        }
        if (acl_ && !acl_->may_subscribe(plain)) {
            shard_.core.auth->count_subscribe_denied();
            IB_LOG_LIMITED_WARN("mqtt: '{}' ({}) may not subscribe to '{}': refused", session_->client_id(), peer_,
                                t.filter);
            refuse(rc::kNotAuthorized);
            continue;
        }
        const bool exists = session_->subscriptions().contains(std::string(t.filter));
        if (!exists && session_->subscriptions().size() >= cfg.max_subscriptions_per_client) {
            shard_.counters.subscriptions_refused_limit.add();
            IB_LOG_LIMITED_WARN("mqtt: '{}' reached max_subscriptions_per_client {}: '{}' refused",
                                session_->client_id(), cfg.max_subscriptions_per_client, t.filter);
            refuse(rc::kQuotaExceeded);
            continue;
        }
        SubscriptionOptions opts;
        opts.qos = clamp_qos(t.qos, cfg.maximum_qos);
        opts.no_local = t.no_local;
        opts.retain_as_published = t.retain_as_published;
        opts.retain_handling = t.retain_handling;
        opts.subscription_id = sub_id;
        TreeChange change{true, std::string(t.filter), Subscription{session_->id(), opts}};
        const bool is_new = shard_.apply(change);
        changes.push_back(std::move(change));
        session_->add_subscription(std::string(t.filter), opts);
        ack.reason_codes.push_back(opts.qos);
        // [MQTT-3.3.1-9..11] Retain Handling 0 sends retained messages on every
        // subscribe, 1 only on a new subscription, 2 never; shared subscriptions
        // never receive them.
        if (!*shared && (opts.retain_handling == 0 || (opts.retain_handling == 1 && is_new))) {
            retained_requests.push_back({std::string(t.filter), opts});
        }
    }
    // The SUBACK, and the retained messages after it, go out once every shard's
    // tree has the subscriptions, so that anything published after the SUBACK
    // reaches the client whichever shard its publisher is on.
    auto finish = [self = ref(), ack = std::move(ack), retained = std::move(retained_requests)] {
        if (self->closed() || !self->session_) return;
        codec::encode(self->out_, ack, self->version_);
        self->mark_dirty();
        for (const auto& r : retained) self->shard_.retained_to(*self->session_, r.filter, r.opts);
    };
    shard_.core.replicate(shard_.index, std::move(changes), std::move(finish));
}

void Connection::handle_unsubscribe(const codec::Unsubscribe& u) {
    codec::Unsuback ack;
    ack.packet_id = u.packet_id;
    std::vector<TreeChange> changes;
    for (auto filter : u.filters) {
        TreeChange change{false, std::string(filter), Subscription{session_->id(), {}}};
        const bool removed = shard_.apply(change);
        changes.push_back(std::move(change));
        session_->remove_subscription(std::string(filter));
        ack.reason_codes.push_back(removed ? rc::kSuccess : rc::kNoSubscriptionExisted);
    }
    auto finish = [self = ref(), ack = std::move(ack)] {
        if (self->closed()) return;
        codec::encode(self->out_, ack, self->version_);
        self->mark_dirty();
    };
    shard_.core.replicate(shard_.index, std::move(changes), std::move(finish));
}

void Connection::handle_pingreq() {
    codec::encode(out_, codec::Pingresp{});
    mark_dirty();
}

void Connection::handle_disconnect(const codec::Disconnect& d) {
    if (version_ == Version::V5 && d.properties.session_expiry_interval) {
        // [MQTT-3.14.2-2] A session that was to end on disconnect cannot be
        // given an expiry now.
        if (session_->expiry_interval_s == 0 && *d.properties.session_expiry_interval != 0) {
            protocol_violation(Violation::ProtocolError, "session expiry set on DISCONNECT after 0 in CONNECT");
            return;
        }
        session_->expiry_interval_s =
            std::min(*d.properties.session_expiry_interval, shard_.core.config.max_session_expiry);
    }
    // [MQTT-3.14.4-3] A normal DISCONNECT discards the will; 0x04 asks for it.
    clean_disconnect_ = d.reason_code != rc::kDisconnectWithWill;
    close("client disconnected");
}

bool Connection::takes_topic_aliases() const { return aliases_ && aliases_->client_max > 0; }

uint16_t Connection::outgoing_alias(std::string_view topic, bool& already_known) {
    already_known = false;
    if (!aliases_ || aliases_->client_max == 0) return 0;
    auto& out_aliases = aliases_->outgoing;
    if (auto it = out_aliases.find(topic); it != out_aliases.end()) {
        already_known = true;
        return it->second;
    }
    // Aliases are given to the first topics sent until the client's maximum is
    // reached; later topics go out in full.
    if (out_aliases.size() >= aliases_->client_max) return 0;
    auto alias = static_cast<uint16_t>(out_aliases.size() + 1);
    out_aliases.emplace(std::string(topic), alias);
    return alias;
}

}  // namespace ib::mqtt::broker
