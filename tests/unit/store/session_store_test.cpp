// The session store: what is committed comes back after reopening (sessions,
// subscriptions, queued messages with their 5.0 properties, QoS 2 state,
// retained messages in their memory order), barriers run after the commit,
// expired sessions and dropped ones are gone, a damaged file is moved aside.
#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>
#include <vector>

#include "store/session_store.hpp"

namespace {

using namespace ib::mqtt::broker;
using ib::as_bytes;
using ib::store::SessionStore;

class SessionStoreTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() /
               ("ib-sessions-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::remove_all(dir_);
        std::filesystem::create_directories(dir_);
        path_ = (dir_ / "sessions.db").string();
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    std::unique_ptr<SessionStore> open(LoadedState* state = nullptr) {
        auto s = SessionStore::open(path_);
        EXPECT_TRUE(s) << s.error();
        if (!s) return nullptr;
        auto loaded = (*s)->load();
        EXPECT_TRUE(loaded) << loaded.error();
        if (state && loaded) *state = std::move(*loaded);
        return std::move(*s);
    }

    // Submits and waits until committed.
    static void write(SessionStore& s, std::vector<PersistOp> ops) {
        std::promise<void> done;
        s.submit(ops);
        EXPECT_TRUE(ops.empty());
        s.after_commit([&] { done.set_value(); });
        ASSERT_EQ(done.get_future().wait_for(std::chrono::seconds(5)), std::future_status::ready);
    }

    static PersistOp session(uint64_t key, std::string cid, uint32_t expiry, int64_t expires_at) {
        PersistOp op;
        op.kind = PersistOp::Kind::Session;
        op.key = key;
        op.text = std::move(cid);
        op.expiry_s = expiry;
        op.expires_at_ms = expires_at;
        return op;
    }
    static PersistOp enqueue(uint64_t key, uint64_t seq, std::string_view payload, uint8_t qos = 1,
                             const MessageInit* with = nullptr) {
        MessageInit init;
        if (with) init = *with;
        init.topic = "t/q";
        init.payload = as_bytes(payload);
        init.qos = qos;
        PersistOp op;
        op.kind = PersistOp::Kind::Enqueue;
        op.key = key;
        op.seq = seq;
        op.qos = qos;
        op.msg = Message::make(init, Clock::now());
        return op;
    }
    static PersistOp simple(PersistOp::Kind kind, uint64_t key, uint64_t seq = 0, uint16_t pid = 0) {
        PersistOp op;
        op.kind = kind;
        op.key = key;
        op.seq = seq;
        op.packet_id = pid;
        return op;
    }
    static PersistOp retain(uint64_t ver, std::string_view topic, std::string_view payload) {
        MessageInit init;
        init.topic = topic;
        init.payload = as_bytes(payload);
        init.qos = 1;
        init.retain = true;
        PersistOp op;
        op.kind = payload.empty() ? PersistOp::Kind::RetainClear : PersistOp::Kind::RetainSet;
        op.seq = ver;
        op.msg = Message::make(init, Clock::now());
        return op;
    }

    std::filesystem::path dir_;
    std::string path_;
};

int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

TEST_F(SessionStoreTest, SessionsSubscriptionsQueueAndQos2StateComeBack) {
    {
        auto s = open();
        ASSERT_TRUE(s);
        std::vector<PersistOp> ops;
        ops.push_back(session(5, "alpha", 3600, -1));
        PersistOp sub = simple(PersistOp::Kind::Subscribe, 5);
        sub.text = "a/+/c";
        sub.opts = SubscriptionOptions{2, true, true, 1, 77};
        ops.push_back(sub);
        sub.text = "gone/#";
        ops.push_back(sub);
        PersistOp unsub = simple(PersistOp::Kind::Unsubscribe, 5);
        unsub.text = "gone/#";
        ops.push_back(unsub);
        MessageInit props;
        props.content_type = "text/plain";
        props.message_expiry_interval = 3600;
        props.correlation_data = as_bytes(std::string_view("corr"));
        ops.push_back(enqueue(5, 10, "ten", 1, &props));
        ops.push_back(enqueue(5, 11, "eleven", 2));
        ops.push_back(enqueue(5, 12, "twelve", 2));
        ops.push_back(enqueue(5, 13, "acked"));
        ops.push_back(simple(PersistOp::Kind::Remove, 5, 13));
        PersistOp st = simple(PersistOp::Kind::State, 5, 11, 300);
        st.state = StoredState::AwaitPubcomp;
        ops.push_back(st);
        ops.push_back(simple(PersistOp::Kind::IncomingAdd, 5, 0, 9));
        ops.push_back(simple(PersistOp::Kind::IncomingAdd, 5, 0, 10));
        ops.push_back(simple(PersistOp::Kind::IncomingDel, 5, 0, 10));
        write(*s, std::move(ops));
        EXPECT_GE(s->commits(), 1u);
        EXPECT_EQ(s->rows_skipped(), 1u);  // seq 13: queued and acknowledged in one batch
    }
    LoadedState st;
    auto s = open(&st);
    ASSERT_TRUE(s);
    ASSERT_EQ(st.sessions.size(), 1u);
    const StoredSession& ss = st.sessions[0];
    EXPECT_EQ(ss.key, 5u);
    EXPECT_EQ(ss.client_id, "alpha");
    EXPECT_EQ(ss.expiry_s, 3600u);
    EXPECT_EQ(ss.expires_at_ms, -1);
    ASSERT_EQ(ss.subscriptions.size(), 1u);
    EXPECT_EQ(ss.subscriptions[0].first, "a/+/c");
    const SubscriptionOptions& o = ss.subscriptions[0].second;
    EXPECT_EQ(o.qos, 2);
    EXPECT_TRUE(o.no_local);
    EXPECT_TRUE(o.retain_as_published);
    EXPECT_EQ(o.retain_handling, 1);
    EXPECT_EQ(o.subscription_id, 77u);
    EXPECT_EQ(ss.incoming_qos2, std::vector<uint16_t>{9});
    EXPECT_EQ(st.next_seq, 14u);  // above the highest seq ever written, removed or not
    EXPECT_GE(st.next_key, 6u);

    auto rows = s->load_queue(5, st.next_seq);
    ASSERT_EQ(rows.size(), 3u);
    EXPECT_EQ(rows[0].seq, 10u);
    EXPECT_EQ(ib::as_string_view(rows[0].msg->payload()), "ten");
    EXPECT_EQ(rows[0].msg->topic(), "t/q");
    auto p = rows[0].msg->properties(Clock::now());
    ASSERT_TRUE(p.content_type);
    EXPECT_EQ(*p.content_type, "text/plain");
    ASSERT_TRUE(p.message_expiry_interval);
    EXPECT_GT(*p.message_expiry_interval, 3590u);
    EXPECT_LE(*p.message_expiry_interval, 3600u);
    ASSERT_TRUE(p.correlation_data);
    EXPECT_EQ(ib::as_string_view(*p.correlation_data), "corr");
    EXPECT_EQ(rows[1].seq, 11u);
    EXPECT_EQ(rows[1].state, StoredState::AwaitPubcomp);
    EXPECT_EQ(rows[1].packet_id, 300);
    EXPECT_EQ(rows[1].qos, 2);
    EXPECT_EQ(rows[2].state, StoredState::Queued);
    // Rows from this run (seq at or above the boundary) are not read back.
    EXPECT_EQ(s->load_queue(5, 11).size(), 1u);
}

TEST_F(SessionStoreTest, DroppedAndExpiredSessionsAreGone) {
    {
        auto s = open();
        std::vector<PersistOp> ops;
        ops.push_back(session(1, "dropped", 60, -1));
        ops.push_back(enqueue(1, 1, "x"));
        ops.push_back(simple(PersistOp::Kind::DropSession, 1));
        ops.push_back(session(2, "expired", 1, now_ms() - 1000));
        ops.push_back(enqueue(2, 2, "y"));
        ops.push_back(session(3, "forever", UINT32_MAX, 0));
        ops.push_back(session(4, "later", 3600, now_ms() + 3'600'000));
        write(*s, std::move(ops));
    }
    LoadedState st;
    auto s = open(&st);
    std::vector<std::string> ids;
    for (const auto& ss : st.sessions) ids.push_back(ss.client_id);
    std::sort(ids.begin(), ids.end());
    EXPECT_EQ(ids, (std::vector<std::string>{"forever", "later"}));
    EXPECT_TRUE(s->load_queue(1, st.next_seq).empty());
    EXPECT_TRUE(s->load_queue(2, st.next_seq).empty());
}

TEST_F(SessionStoreTest, RetainedKeepTheirMemoryOrderAndClearsStick) {
    {
        auto s = open();
        std::vector<PersistOp> ops;
        ops.push_back(retain(2, "r/a", "new"));
        ops.push_back(retain(1, "r/a", "old, arrived late"));
        ops.push_back(retain(3, "r/b", "b"));
        ops.push_back(retain(4, "r/b", ""));
        ops.push_back(retain(2, "r/b", "older than the clear"));
        write(*s, std::move(ops));
    }
    LoadedState st;
    auto s = open(&st);
    ASSERT_EQ(st.retained.size(), 1u);
    EXPECT_EQ(st.retained[0]->topic(), "r/a");
    EXPECT_EQ(ib::as_string_view(st.retained[0]->payload()), "new");
    EXPECT_TRUE(st.retained[0]->retain());
    EXPECT_EQ(st.retained_version, 2u);
}

TEST_F(SessionStoreTest, BarriersRunAfterEverythingSubmittedBefore) {
    auto s = open();
    std::atomic<int> order{0};
    int seen_by_barrier = -1;
    std::promise<void> done;
    for (int i = 0; i < 100; ++i) {
        std::vector<PersistOp> ops;
        ops.push_back(enqueue(9, static_cast<uint64_t>(i + 1), "m"));
        s->submit(ops);
    }
    s->after_commit([&] {
        seen_by_barrier = static_cast<int>(s->ops_written());
        order = 1;
        done.set_value();
    });
    ASSERT_EQ(done.get_future().wait_for(std::chrono::seconds(5)), std::future_status::ready);
    EXPECT_EQ(seen_by_barrier, 100);
    EXPECT_EQ(order.load(), 1);
}

TEST_F(SessionStoreTest, AFileThatIsNotADatabaseIsMovedAside) {
    {
        std::ofstream f(path_, std::ios::binary);
        for (int i = 0; i < 1000; ++i) f << "not a database ";
    }
    LoadedState st;
    auto s = open(&st);
    ASSERT_TRUE(s);
    EXPECT_NE(s->moved_aside().find(path_ + ".corrupt-"), std::string::npos) << s->moved_aside();
    EXPECT_TRUE(st.sessions.empty());
    write(*s, {session(1, "fresh", 60, -1)});
}

}  // namespace
