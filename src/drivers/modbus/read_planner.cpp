#include "drivers/modbus/read_planner.hpp"

#include <algorithm>

#include "core/assert.hpp"

namespace ib::drivers::modbus {
namespace {

// One past the tag's last register (or bit); 65536 at most, hence 32 bits.
uint32_t end_of(const ModbusAddress& tag) { return static_cast<uint32_t>(tag.address) + tag.span(); }

// Orders tag indices by unit, area and address; ties by index so the plan does not
// depend on the sort's stability.
void sort_by_address(std::vector<uint32_t>& order, std::span<const ModbusAddress> tags) {
    std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
        const ModbusAddress& x = tags[a];
        const ModbusAddress& y = tags[b];
        if (x.unit != y.unit) return x.unit < y.unit;
        if (x.area != y.area) return x.area < y.area;
        if (x.address != y.address) return x.address < y.address;
        return a < b;
    });
}

// The request covering exactly `indices` (in address order, one unit and area).
ReadRequest cover(std::span<const uint32_t> indices, std::span<const ModbusAddress> tags) {
    const ModbusAddress& head = tags[indices.front()];
    ReadRequest request;
    request.unit = head.unit;
    request.area = head.area;
    request.address = head.address;
    uint32_t end = end_of(head);
    for (uint32_t i : indices) end = std::max(end, end_of(tags[i]));
    request.count = static_cast<uint16_t>(end - head.address);
    request.tags.assign(indices.begin(), indices.end());
    return request;
}

}  // namespace

std::vector<ReadRequest> plan_reads(std::span<const ModbusAddress> tags, const PlanOptions& options) {
    std::vector<ReadRequest> plan;
    if (tags.empty()) return plan;
    std::vector<uint32_t> order(tags.size());
    for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
    sort_by_address(order, tags);

    uint32_t current_end = 0;  // one past the last register (or bit) of plan.back()
    for (uint32_t index : order) {
        const ModbusAddress& tag = tags[index];
        if (!plan.empty() && plan.back().unit == tag.unit && plan.back().area == tag.area) {
            ReadRequest* current = &plan.back();
            const uint32_t limit = tag.is_bit_area() ? options.max_bits : options.max_registers;
            // Sorted by address, so the tag starts at or after the request's start;
            // it may start inside the request (overlap, gap 0).
            const uint32_t gap = tag.address > current_end ? tag.address - current_end : 0;
            const uint32_t end = std::max(current_end, end_of(tag));
            if (gap <= options.max_gap && end - current->address <= limit) {
                current_end = end;
                current->count = static_cast<uint16_t>(end - current->address);
                current->tags.push_back(index);
                continue;
            }
        }
        // A new request. A tag longer than the limit still gets one of its own: a
        // value must be read in one piece (parse_address keeps String/Bytes at 125).
        ReadRequest& request = plan.emplace_back();
        request.unit = tag.unit;
        request.area = tag.area;
        request.address = tag.address;
        current_end = end_of(tag);
        request.count = static_cast<uint16_t>(current_end - tag.address);
        request.tags.push_back(index);
    }
    return plan;
}

std::vector<ReadRequest> split_request(const ReadRequest& request, std::span<const ModbusAddress> tags) {
    std::vector<ReadRequest> halves;
    if (request.tags.size() < 2) return halves;
    for (uint32_t i : request.tags) IB_ASSERT(i < tags.size(), "a request's tags index the span it was planned from");

    std::vector<uint32_t> order = request.tags;
    sort_by_address(order, tags);

    // Split at the boundary between two different addresses nearest the middle,
    // so tags at one address stay together; none means every tag starts at one
    // address and the failure is theirs.
    const size_t n = order.size();
    const size_t middle = n / 2;
    const auto distance = [&](size_t p) { return p > middle ? p - middle : middle - p; };
    size_t best = 0;
    for (size_t at = 1; at < n; ++at) {
        if (tags[order[at - 1]].address == tags[order[at]].address) continue;
        if (best == 0 || distance(at) < distance(best)) best = at;
    }
    if (best == 0) return halves;

    std::span<const uint32_t> all(order);
    halves.push_back(cover(all.first(best), tags));
    halves.push_back(cover(all.subspan(best), tags));
    return halves;
}

}  // namespace ib::drivers::modbus
