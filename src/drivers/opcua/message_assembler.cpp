// OPC 10000-6 §6.7.2.4 (sequence numbers) and §6.7.3 (MessageChunks and error handling).
#include "drivers/opcua/message_assembler.hpp"

#include <algorithm>

#include "drivers/opcua/opcua_binary.hpp"

namespace ib::drivers::opcua {

MessageAssembler::MessageAssembler(Limits limits) : limits_(limits) {
    if (limits_.max_message_size == 0 || limits_.max_message_size > kHardMaxMessageSize) {
        limits_.max_message_size = kHardMaxMessageSize;
    }
}

void MessageAssembler::reset() {
    partial_.clear();
    complete_.clear();
    last_sequence_.reset();
}

Result<void> MessageAssembler::check_sequence(uint32_t number) {
    // §6.7.2.4: each chunk's number is the previous one plus 1; the legacy rule
    // wraps after 4 294 966 271 to below 1 024, the 1.05 one after UInt32 max to 0.
    // A gap is BadSequenceNumberInvalid: the channel is closed.
    if (last_sequence_) {
        const uint32_t last = *last_sequence_;
        const bool next = number == last + 1 || (last == UINT32_MAX && number == 0) ||
                          (last >= 4294966271u && number < 1024);
        if (!next) return fail(DecodeErrc::Unexpected, 16, "sequence number does not follow the previous chunk's");
    }
    last_sequence_ = number;
    return {};
}

MessageAssembler::Partial* MessageAssembler::find(uint32_t request_id) {
    for (Partial& p : partial_) {
        if (p.request_id == request_id) return &p;
    }
    return nullptr;
}

void MessageAssembler::drop(uint32_t request_id) {
    std::erase_if(partial_, [&](const Partial& p) { return p.request_id == request_id; });
}

Result<AssemblyEvent> MessageAssembler::add(const Chunk& chunk) {
    auto seq = check_sequence(chunk.sequence.sequence_number);
    if (!seq) return std::unexpected(seq.error());
    const uint32_t id = chunk.sequence.request_id;
    Partial* p = find(id);

    if (chunk.chunk == 'A') {
        // §6.7.3: the abort chunk's body is an Error code and a Reason.
        drop(id);
        BinaryReader r{chunk.body};
        auto error = decode_error_message(r);
        if (!error) return std::unexpected(error.error());
        return AssemblyEvent{AbortedMessage{id, std::move(*error)}};
    }

    if (p != nullptr && p->type != chunk.type) {
        return fail(DecodeErrc::Unexpected, 0, "chunk type differs from the earlier chunks of its request");
    }
    const std::size_t so_far = p != nullptr ? p->body.size() : 0;
    const uint32_t chunks = (p != nullptr ? p->chunks : 0) + 1;
    if (so_far + chunk.body.size() > limits_.max_message_size) {
        drop(id);
        return fail(DecodeErrc::TooLarge, 0, "response larger than our MaxMessageSize");
    }
    if (limits_.max_chunk_count != 0 && chunks > limits_.max_chunk_count) {
        drop(id);
        return fail(DecodeErrc::TooLarge, 0, "response in more chunks than our MaxChunkCount");
    }

    if (chunk.chunk == 'F') {
        if (p == nullptr) return AssemblyEvent{AssembledMessage{chunk.type, id, chunk.body}};
        complete_ = std::move(p->body);
        complete_.insert(complete_.end(), chunk.body.begin(), chunk.body.end());
        drop(id);
        return AssemblyEvent{AssembledMessage{chunk.type, id, Bytes(complete_)}};
    }

    // An intermediate chunk ('C'): keep it until the final one arrives.
    if (p == nullptr) {
        if (partial_.size() >= kMaxPartialMessages) {
            return fail(DecodeErrc::TooLarge, 0, "too many responses in chunks at once");
        }
        partial_.push_back(Partial{id, chunk.type, 0, {}});
        p = &partial_.back();
    }
    p->chunks = chunks;
    p->body.insert(p->body.end(), chunk.body.begin(), chunk.body.end());
    return AssemblyEvent{std::monostate{}};
}

}  // namespace ib::drivers::opcua
