#include "drivers/modbus/modbus_driver.hpp"

#include <utility>  // before Asio: Boost 1.74 coroutine headers need it

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/serial_port.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <array>
#include <cstring>
#include <deque>
#include <optional>
#include <map>

#include "core/log.hpp"
#include "drivers/modbus/modbus_address.hpp"
#include "drivers/modbus/modbus_codec.hpp"
#include "drivers/modbus/read_planner.hpp"
#include "drivers/modbus/register_codec.hpp"
#include "drivers/reconnect_backoff.hpp"

namespace ib::drivers::modbus {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr uint8_t kIllegalDataAddress = 2;

TagError error(TagErrc code, std::string message) { return TagError{static_cast<uint16_t>(code), std::move(message)}; }

// What a request came to: the reply's data (reads) or an error for its tags.
using JobResult = std::expected<std::span<const uint8_t>, TagError>;

struct Job {
    uint8_t unit = 1;
    Pdu pdu;
    uint32_t attempts_left = 0;
    std::function<void(const JobResult&)> done;
};

// A read of one group: how many requests are still out, and where results go.
struct ReadOp {
    uint32_t group = 0;
    std::span<TagReading> out;
    Driver::ReadDone done;
    size_t pending = 0;
};

struct GroupPlan {
    std::vector<ModbusAddress> addresses;  // readable tags only
    std::vector<uint32_t> tag_index;       // addresses[i] is tag tag_index[i] of the group
    std::vector<ReadRequest> requests;
};

FunctionCode read_function(Area area) {
    switch (area) {
        case Area::Coil: return FunctionCode::ReadCoils;
        case Area::DiscreteInput: return FunctionCode::ReadDiscreteInputs;
        case Area::InputRegister: return FunctionCode::ReadInputRegisters;
        case Area::HoldingRegister: return FunctionCode::ReadHoldingRegisters;
    }
    return FunctionCode::ReadHoldingRegisters;
}

std::optional<bool> as_bool(const Value& v) {
    if (const auto* b = std::get_if<bool>(&v)) return *b;
    if (const auto* i = std::get_if<int64_t>(&v); i && (*i == 0 || *i == 1)) return *i == 1;
    if (const auto* u = std::get_if<uint64_t>(&v); u && (*u == 0 || *u == 1)) return *u == 1;
    if (const auto* d = std::get_if<double>(&v); d && (*d == 0 || *d == 1)) return *d == 1;
    return std::nullopt;
}

class ModbusDriver final : public Driver {
public:
    ModbusDriver(asio::io_context& io, const DeviceConfig& config, DriverEvents& events)
        : io_(io),
          config_(config),
          events_(events),
          rtu_(config.driver != DriverKind::ModbusTcp),
          serial_line_(config.driver == DriverKind::ModbusRtu),
          resolver_(io),
          socket_(io),
          serial_(io),
          request_timer_(io),
          reconnect_timer_(io),
          gap_timer_(io),
          backoff_(config.reconnect_min, config.reconnect_max) {
        AddressOptions options;
        options.base = config.address_base;
        options.default_order = parse_byte_order(config.byte_order).value_or(ByteOrder{});
        PlanOptions plan_options;
        plan_options.max_gap = config.max_gap;
        for (const auto& g : config.groups) {
            GroupPlan plan;
            for (uint32_t i = 0; i < g.tags.size(); ++i) {
                // The loader checked every address; one that fails here would be a bug there.
                auto a = parse_address(g.tags[i].address(), g.tags[i].type, options);
                addresses_.push_back(a.value_or(ModbusAddress{}));
                if (!readable(g.tags[i].access) || !a) continue;
                plan.addresses.push_back(*a);
                plan.tag_index.push_back(i);
            }
            plan.requests = plan_reads(plan.addresses, plan_options);
            plans_.push_back(std::move(plan));
        }
        size_t offset = 0;
        for (const auto& g : config.groups) {
            group_offset_.push_back(offset);
            offset += g.tags.size();
        }
        // Character time on a serial line: 11 bits (start, 8 data, parity or second
        // stop, stop). Modbus over serial line v1.02 §2.5.1.1: 3.5 characters of
        // silence between frames, fixed at 1.75 ms above 19200 baud.
        double char_us = 11e6 / config.serial.baud;
        frame_gap_ = config.serial.baud > 19200 ? std::chrono::microseconds(1750)
                                                : std::chrono::microseconds(static_cast<int64_t>(3.5 * char_us) + 1);
    }

    ~ModbusDriver() override { *alive_ = false; }

    void start() override {
        stopped_ = false;
        backoff_.reset();
        connect();
    }

    void stop() override {
        stopped_ = true;
        reconnect_timer_.cancel();
        close_link();
        fail_all(error(TagErrc::Cancelled, "the device was stopped"));
        events_.on_link_state(LinkState::Stopped, "");
    }

    void read(uint32_t group, std::span<TagReading> out, ReadDone done) override {
        auto op = std::make_shared<ReadOp>();
        op->group = group;
        op->out = out;
        op->done = std::move(done);
        GroupPlan& plan = plans_[group];
        op->pending = plan.requests.size() + 1;  // +1 until every request is queued
        for (const ReadRequest& r : plan.requests) submit_read(op, r);
        finish_one(op);
    }

    void write(std::vector<WriteItem> items, WriteDone done) override {
        auto state = std::make_shared<WriteState>();
        state->items = std::move(items);
        state->done = std::move(done);
        state->results.resize(state->items.size());
        write_next(state);
    }

    const DriverStats& stats() const override { return stats_; }

private:
    struct WriteState {
        std::vector<WriteItem> items;
        std::vector<std::optional<TagError>> results;
        size_t next = 0;
        WriteDone done;
    };

    struct UnitHealth {
        Clock::time_point retry_at{};
        milliseconds backoff{0};
    };

    // ------------------------------------------------------------------ reads
    void finish_one(const std::shared_ptr<ReadOp>& op) {
        if (--op->pending == 0) {
            auto done = std::move(op->done);
            done();
        }
    }

    void submit_read(const std::shared_ptr<ReadOp>& op, const ReadRequest& request) {
        Job job;
        job.unit = request.unit;
        job.pdu = read_request(read_function(request.area), request.address, request.count);
        job.done = [this, op, request, alive = alive_](const JobResult& result) {
            if (*alive) on_read_result(op, request, result);
            else finish_one(op);
        };
        submit(std::move(job), false);
    }

    void on_read_result(const std::shared_ptr<ReadOp>& op, const ReadRequest& request, const JobResult& result) {
        GroupPlan& plan = plans_[op->group];
        if (!result && result.error().code == kIllegalDataAddress) {
            auto halves = split_request(request, plan.addresses);
            if (!halves.empty()) {
                // Keep the split for later polls too: the bad address will not heal
                // between two reads, and re-discovering it costs requests every time.
                replace_request(plan, request, halves);
                op->pending += halves.size();
                for (const ReadRequest& h : halves) submit_read(op, h);
                return finish_one(op);
            }
        }
        for (uint32_t k : request.tags) {
            TagReading& out = op->out[plan.tag_index[k]];
            if (!result) {
                out.fail(result.error().code, result.error().message);
                continue;
            }
            const ModbusAddress& a = plan.addresses[k];
            std::span<const uint8_t> data = *result;
            size_t first = a.address - request.address;
            if (a.is_bit_area()) {
                out.set(bit_at(data, first));
                continue;
            }
            auto v = decode_registers(data.subspan(first * 2, size_t{a.span()} * 2), a);
            if (v) out.set(std::move(*v));
            else out.fail(v.error().code, v.error().message);
        }
        finish_one(op);
    }

    static bool same(const ReadRequest& a, const ReadRequest& b) {
        return a.unit == b.unit && a.area == b.area && a.address == b.address && a.count == b.count;
    }

    void replace_request(GroupPlan& plan, const ReadRequest& old, const std::vector<ReadRequest>& halves) {
        for (size_t i = 0; i < plan.requests.size(); ++i) {
            if (!same(plan.requests[i], old)) continue;
            plan.requests.erase(plan.requests.begin() + static_cast<std::ptrdiff_t>(i));
            plan.requests.insert(plan.requests.begin() + static_cast<std::ptrdiff_t>(i), halves.begin(), halves.end());
            return;
        }
    }

    // ----------------------------------------------------------------- writes
    void write_next(const std::shared_ptr<WriteState>& state) {
        if (state->next == state->items.size()) {
            auto done = std::move(state->done);
            return done(std::move(state->results));
        }
        const WriteItem& item = state->items[state->next];
        const ModbusAddress& a = addresses_[group_offset_[item.group] + item.tag];
        auto finish = [this, state, alive = alive_](std::optional<TagError> result) {
            state->results[state->next++] = std::move(result);
            if (*alive) write_next(state);
            else {
                for (size_t k = state->next; k < state->items.size(); ++k) {
                    state->results[k] = error(TagErrc::Cancelled, "the device was stopped");
                }
                auto done = std::move(state->done);
                done(std::move(state->results));
            }
        };
        auto as_result = [](const JobResult& r) -> std::optional<TagError> {
            if (r) return std::nullopt;
            return r.error();
        };
        Job job;
        job.unit = a.unit;
        if (a.area == Area::Coil) {
            auto on = as_bool(item.raw);
            if (!on) return finish(error(TagErrc::BadValue, "a coil takes true or false"));
            job.pdu = write_single_coil(a.address, *on);
            job.done = [finish, as_result](const JobResult& r) { finish(as_result(r)); };
            return submit(std::move(job), true);
        }
        if (a.bit) {
            auto on = as_bool(item.raw);
            if (!on) return finish(error(TagErrc::BadValue, "a bit takes true or false"));
            // Read-modify-write: Modbus has no function to set one bit of a register.
            job.pdu = read_request(FunctionCode::ReadHoldingRegisters, a.address, 1);
            job.done = [this, finish, as_result, a, on = *on, alive = alive_](const JobResult& r) {
                if (!r || !*alive) return finish(r ? error(TagErrc::Cancelled, "the device was stopped") : r.error());
                Job set;
                set.unit = a.unit;
                set.pdu = write_single_register(a.address, with_bit(register_at(*r, 0), *a.bit, on));
                set.done = [finish, as_result](const JobResult& w) { finish(as_result(w)); };
                submit(std::move(set), true);
            };
            return submit(std::move(job), true);
        }
        auto registers = encode_registers(item.raw, a);
        if (!registers) return finish(registers.error());
        // §6.12: one request writes at most 123 registers; a .LEN of 124 or 125 can be read, not written.
        if (registers->count > kMaxWriteRegisters) {
            return finish(error(TagErrc::BadValue, "a tag of " + std::to_string(registers->count) +
                                                       " registers is too long to write (Modbus writes at most 123)"));
        }
        job.pdu = registers->count == 1 ? write_single_register(a.address, registers->words[0])
                                        : write_multiple_registers(a.address, registers->view());
        job.done = [finish, as_result](const JobResult& r) { finish(as_result(r)); };
        submit(std::move(job), true);
    }

    // ------------------------------------------------------------ job queue
    void submit(Job job, bool urgent) {
        job.attempts_left = config_.retries + 1;
        // While the first attempt to connect is still under way, work waits for it;
        // once a link has failed, it fails fast instead of piling up.
        if (!connected_ && !last_error_.empty()) {
            auto e = error(TagErrc::Disconnected, "disconnected: " + (last_error_.empty() ? "connecting" : last_error_));
            return complete(std::move(job), std::unexpected(std::move(e)));
        }
        // Writes go before queued polls: an operator waits for them, a poll does not.
        if (urgent) urgent_.push_back(std::move(job));
        else queue_.push_back(std::move(job));
        pump();
    }

    // Runs a job's callback from the loop, never from inside submit(), so callers
    // never re-enter themselves.
    void complete(Job job, JobResult result) {
        TagError copy;
        bool ok = result.has_value();
        if (!ok) copy = result.error();
        asio::post(io_, [job = std::move(job), ok, copy = std::move(copy)]() mutable {
            if (ok) job.done(std::span<const uint8_t>{});
            else job.done(std::unexpected(std::move(copy)));
        });
    }

    void pump() {
        // Callbacks run inside consume() may queue work; sending then would reset
        // the receive buffer under the loop that is parsing it.
        if (consuming_) return;
        while (connected_ && !inflight_ && (!urgent_.empty() || !queue_.empty())) {
            std::deque<Job>& q = urgent_.empty() ? queue_ : urgent_;
            Job job = std::move(q.front());
            q.pop_front();
            UnitHealth& unit = units_[job.unit];
            if (Clock::now() < unit.retry_at) {
                auto left = std::chrono::duration_cast<milliseconds>(unit.retry_at - Clock::now());
                complete(std::move(job),
                         std::unexpected(error(TagErrc::Timeout, "timeout: unit " + std::to_string(job.unit) +
                                                                     " is not answering; next try in " +
                                                                     std::to_string(left.count()) + " ms")));
                continue;
            }
            inflight_ = std::move(job);
            send();
        }
    }

    void send() {
        if (serial_line_) {
            // Keep the inter-frame silence: a frame sent too soon after the last one
            // merges with it on the line.
            gap_timer_.expires_after(frame_gap_);
            gap_timer_.async_wait([this, alive = alive_, generation = generation_](const boost::system::error_code& ec) {
                if (ec || !*alive || generation != generation_ || !inflight_) return;
                transmit();
            });
            return;
        }
        transmit();
    }

    void transmit() {
        Job& job = *inflight_;
        if (rtu_) {
            // Bytes still in the buffer belong to an earlier, timed-out exchange.
            rx_size_ = 0;
            tx_size_ = frame_rtu(std::span<uint8_t, kMaxRtuAduSize>(tx_.data(), kMaxRtuAduSize), job.unit, job.pdu);
        } else {
            transaction_ = static_cast<uint16_t>(transaction_ + 1);
            tx_size_ = frame_tcp(tx_, transaction_, job.unit, job.pdu);
        }
        ++stats_.requests;
        sent_at_ = Clock::now();
        auto on_written = [this, alive = alive_, generation = generation_](const boost::system::error_code& ec,
                                                                          size_t) {
            if (!*alive || generation != generation_) return;
            if (ec) link_lost("cannot send to " + peer() + ": " + ec.message());
        };
        if (serial_line_) asio::async_write(serial_, asio::buffer(tx_.data(), tx_size_), on_written);
        else asio::async_write(socket_, asio::buffer(tx_.data(), tx_size_), on_written);
        request_timer_.expires_after(config_.timeout);
        request_timer_.async_wait([this, alive = alive_, generation = generation_](const boost::system::error_code& ec) {
            if (ec || !*alive || generation != generation_ || !inflight_) return;
            on_timeout();
        });
    }

    void on_timeout() {
        ++stats_.timeouts;
        Job& job = *inflight_;
        if (--job.attempts_left > 0) return transmit();
        Job failed = std::move(job);
        inflight_.reset();
        const uint8_t unit_id = failed.unit;
        UnitHealth& unit = units_[unit_id];
        unit.backoff = unit.backoff.count() == 0 ? config_.reconnect_min : std::min(unit.backoff * 2, config_.reconnect_max);
        unit.retry_at = Clock::now() + unit.backoff;
        std::string why = "timeout: no reply from unit " + std::to_string(unit_id) + " at " + peer() + " within " +
                          std::to_string(config_.timeout.count()) + " ms";
        complete(std::move(failed), std::unexpected(error(TagErrc::Timeout, why)));
        // A TCP link on which no unit answers is as good as gone (a half-open
        // connection, a gateway that lost its serial side): reconnect. One dead
        // unit among live ones only backs off that unit, and so does every unit
        // of a serial line, which reopening would not help.
        bool all_silent = true;
        for (const auto& [id, health] : units_) all_silent = all_silent && Clock::now() < health.retry_at;
        if (all_silent && !serial_line_) return link_lost(why);
        if (all_silent && !line_silent_) {
            // The port is open but nobody on the line answers: say so in the status
            // rather than "connected", and say "connected" again at the next reply.
            line_silent_ = true;
            events_.on_link_state(LinkState::Reconnecting, why);
        }
        pump();
    }

    void on_frame(std::span<const uint8_t> pdu, uint8_t unit, uint16_t transaction) {
        if (!inflight_) return;  // a late reply to a request that timed out
        Job& job = *inflight_;
        if (!rtu_ && transaction != transaction_) return;  // ditto, on TCP
        // On a shared serial line, another unit's frame is not ours. Over TCP the
        // transaction id already matched; some gateways rewrite the unit, so it
        // is not checked there.
        if (rtu_ && unit != job.unit) return;
        request_timer_.cancel();
        ++stats_.round_trips;
        stats_.round_trip_seconds_sum += std::chrono::duration<double>(Clock::now() - sent_at_).count();
        units_[job.unit] = UnitHealth{};
        if (line_silent_) {
            line_silent_ = false;
            events_.on_link_state(LinkState::Connected, "");
        }
        Job done = std::move(job);
        inflight_.reset();
        auto reply = parse_reply(done.pdu.view(), pdu);
        if (reply) {
            // The data points into rx_, which the next read reuses: hand it over now.
            done.done(*reply);
        } else if (reply.error().kind == ReplyErrc::Exception) {
            ++stats_.exceptions;
            uint8_t code = reply.error().exception;
            done.done(std::unexpected(TagError{code, std::string(exception_name(code))}));
        } else {
            ++stats_.bad_replies;
            IB_LOG_LIMITED_WARN("device {}: bad reply from {}: {}", config_.name, peer(), reply.error().message);
            done.done(std::unexpected(error(TagErrc::BadReply, std::string("bad reply: ") + reply.error().message)));
        }
    }

    void fail_all(const TagError& e) {
        request_timer_.cancel();
        gap_timer_.cancel();
        if (inflight_) {
            complete(std::move(*inflight_), std::unexpected(e));
            inflight_.reset();
        }
        for (auto* q : {&urgent_, &queue_}) {
            while (!q->empty()) {
                complete(std::move(q->front()), std::unexpected(e));
                q->pop_front();
            }
        }
    }

    // ------------------------------------------------------------ the link
    std::string peer() const {
        if (serial_line_) return config_.serial.port;
        return config_.host + ":" + std::to_string(config_.port);
    }

    void connect() {
        if (stopped_) return;
        ++generation_;
        rx_size_ = 0;
        if (serial_line_) return open_serial();
        resolver_.async_resolve(config_.host, std::to_string(config_.port),
                                [this, alive = alive_, generation = generation_](const boost::system::error_code& ec,
                                                                                 tcp::resolver::results_type results) {
                                    if (!*alive || generation != generation_ || stopped_) return;
                                    if (ec) return connect_failed("cannot resolve " + config_.host + ": " + ec.message());
                                    request_timer_.expires_after(config_.timeout);
                                    request_timer_.async_wait([this, alive, generation](const boost::system::error_code& t) {
                                        if (t || !*alive || generation != generation_ || connected_) return;
                                        boost::system::error_code ignored;
                                        socket_.close(ignored);
                                    });
                                    asio::async_connect(socket_, results,
                                                        [this, alive, generation](const boost::system::error_code& c,
                                                                                  const tcp::endpoint&) {
                                                            if (!*alive || generation != generation_ || stopped_) return;
                                                            request_timer_.cancel();
                                                            if (c) {
                                                                return connect_failed("cannot connect to " + peer() + ": " +
                                                                                      (c == asio::error::operation_aborted
                                                                                           ? std::string("timed out")
                                                                                           : c.message()));
                                                            }
                                                            boost::system::error_code ignored;
                                                            socket_.set_option(tcp::no_delay(true), ignored);
                                                            connected();
                                                        });
                                });
    }

    void open_serial() {
        boost::system::error_code ec;
        serial_.open(config_.serial.port, ec);
        if (ec) return connect_failed("cannot open " + config_.serial.port + ": " + ec.message());
        using Base = asio::serial_port_base;
        auto parity = config_.serial.parity == 'E'   ? Base::parity::even
                      : config_.serial.parity == 'O' ? Base::parity::odd
                                                     : Base::parity::none;
        serial_.set_option(Base::baud_rate(config_.serial.baud), ec);
        if (!ec) serial_.set_option(Base::character_size(config_.serial.data_bits), ec);
        if (!ec) serial_.set_option(Base::parity(parity), ec);
        if (!ec) {
            serial_.set_option(Base::stop_bits(config_.serial.stop_bits == 2 ? Base::stop_bits::two
                                                                             : Base::stop_bits::one),
                               ec);
        }
        if (!ec) serial_.set_option(Base::flow_control(Base::flow_control::none), ec);
        if (ec) {
            serial_.close(ec);
            return connect_failed("cannot configure " + config_.serial.port + ": " + ec.message());
        }
        connected();
    }

    void connected() {
        connected_ = true;
        line_silent_ = false;
        backoff_.reset();
        units_.clear();
        last_error_.clear();
        events_.on_link_state(LinkState::Connected, "");
        receive();
        pump();
    }

    void connect_failed(std::string why) {
        ++stats_.reconnects;
        last_error_ = why;
        fail_all(error(TagErrc::Disconnected, "disconnected: " + why));
        events_.on_link_state(LinkState::Reconnecting, why);
        schedule_reconnect();
    }

    void link_lost(std::string why) {
        if (!connected_) return;
        ++stats_.reconnects;
        close_link();
        last_error_ = why;
        fail_all(error(TagErrc::Disconnected, "disconnected: " + why));
        events_.on_link_state(LinkState::Reconnecting, why);
        schedule_reconnect();
    }

    void close_link() {
        connected_ = false;
        ++generation_;
        boost::system::error_code ec;
        resolver_.cancel();
        socket_.close(ec);
        serial_.close(ec);
        request_timer_.cancel();
        gap_timer_.cancel();
    }

    void schedule_reconnect() {
        if (stopped_) return;
        reconnect_timer_.expires_after(backoff_.next());
        reconnect_timer_.async_wait([this, alive = alive_](const boost::system::error_code& ec) {
            if (ec || !*alive || stopped_) return;
            connect();
        });
    }

    void receive() {
        if (rx_size_ == rx_.size()) rx_size_ = 0;  // cannot happen with a sane peer; never overflow
        auto buffer = asio::buffer(rx_.data() + rx_size_, rx_.size() - rx_size_);
        auto on_read = [this, alive = alive_, generation = generation_](const boost::system::error_code& ec, size_t n) {
            if (!*alive || generation != generation_) return;
            if (ec) {
                return link_lost(ec == asio::error::eof ? peer() + " closed the connection"
                                                        : "cannot read from " + peer() + ": " + ec.message());
            }
            rx_size_ += n;
            if (!consume()) return;
            receive();
        };
        if (serial_line_) serial_.async_read_some(buffer, on_read);
        else socket_.async_read_some(buffer, on_read);
    }

    // Parses every complete frame in rx_. Returns false when the link was dropped.
    bool consume() {
        const uint64_t generation = generation_;
        size_t used = 0;
        while (used < rx_size_) {
            std::span<const uint8_t> rest(rx_.data() + used, rx_size_ - used);
            FrameResult f = rtu_ ? decode_rtu_frame(rest) : decode_tcp_frame(rest);
            if (f.status == FrameStatus::NeedMore) break;
            if (f.status == FrameStatus::Malformed) {
                if (rtu_ && !inflight_) {
                    rx_size_ = 0;  // noise on an idle line: nobody is waiting for it
                    return true;
                }
                ++stats_.bad_replies;
                IB_LOG_LIMITED_WARN("device {}: unreadable reply from {}: {}", config_.name, peer(), f.error);
                if (inflight_) {
                    Job job = std::move(*inflight_);
                    inflight_.reset();
                    request_timer_.cancel();
                    complete(std::move(job), std::unexpected(error(TagErrc::BadReply,
                                                                   std::string("unreadable reply: ") + f.error)));
                }
                link_lost(std::string("framing lost: ") + f.error);
                return false;
            }
            consuming_ = true;
            on_frame(f.frame.pdu, f.frame.unit, f.frame.transaction_id);
            consuming_ = false;
            if (generation != generation_) return false;
            used += f.frame.size;
        }
        if (used > 0) {
            std::memmove(rx_.data(), rx_.data() + used, rx_size_ - used);
            rx_size_ -= used;
        }
        pump();
        return generation_ == generation;
    }

    asio::io_context& io_;
    const DeviceConfig& config_;
    DriverEvents& events_;
    const bool rtu_;          // RTU framing (serial line or RTU over TCP)
    const bool serial_line_;  // a serial port rather than a socket
    tcp::resolver resolver_;
    tcp::socket socket_;
    asio::serial_port serial_;
    asio::steady_timer request_timer_;
    asio::steady_timer reconnect_timer_;
    asio::steady_timer gap_timer_;
    std::chrono::microseconds frame_gap_{0};

    std::vector<GroupPlan> plans_;
    std::vector<ModbusAddress> addresses_;  // every tag, by group_offset_[group] + tag
    std::vector<size_t> group_offset_;

    std::deque<Job> urgent_;
    std::deque<Job> queue_;
    std::optional<Job> inflight_;
    std::map<uint8_t, UnitHealth> units_;
    std::array<uint8_t, kMaxTcpAduSize> tx_{};
    size_t tx_size_ = 0;
    std::array<uint8_t, 4 * kMaxTcpAduSize> rx_{};
    size_t rx_size_ = 0;
    uint16_t transaction_ = 0;
    Clock::time_point sent_at_;

    bool connected_ = false;
    bool consuming_ = false;
    bool line_silent_ = false;  // serial line: every unit timed out, status says so
    bool stopped_ = true;
    // Bumped whenever the link closes, so callbacks of an old link do nothing.
    uint64_t generation_ = 0;
    ReconnectBackoff backoff_;
    std::string last_error_;
    DriverStats stats_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace

std::unique_ptr<Driver> make_modbus_driver(asio::io_context& io, const DeviceConfig& config, DriverEvents& events) {
    return std::make_unique<ModbusDriver>(io, config, events);
}

}  // namespace ib::drivers::modbus
