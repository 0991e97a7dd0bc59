// The headers every service request and response carries (OPC 10000-4 §7.28,
// §7.29) and ServiceFault (§7.30), the answer to any request that failed as a
// whole. Field order from OPC 10000-6 Annex C (Opc.Ua.Types.bsd).
#pragma once

#include <string>
#include <vector>

#include "drivers/opcua/builtin_types.hpp"

namespace ib::drivers::opcua {

// P4 §7.28
struct RequestHeader {
    NodeId authentication_token;  // from CreateSession; null before it
    DateTime timestamp;
    uint32_t request_handle = 0;
    uint32_t return_diagnostics = 0;
    std::string audit_entry_id;
    uint32_t timeout_hint = 0;  // ms; 0: none
    ExtensionObject additional_header;

    template <typename S, typename F>
    static void visit(S& s, F&& f) {
        f(s.authentication_token), f(s.timestamp), f(s.request_handle), f(s.return_diagnostics);
        f(s.audit_entry_id), f(s.timeout_hint), f(s.additional_header);
    }
    bool operator==(const RequestHeader&) const = default;
};

// P4 §7.29
struct ResponseHeader {
    DateTime timestamp;
    uint32_t request_handle = 0;
    StatusCode service_result;
    DiagnosticInfo service_diagnostics;
    std::vector<std::string> string_table;
    ExtensionObject additional_header;

    template <typename S, typename F>
    static void visit(S& s, F&& f) {
        f(s.timestamp), f(s.request_handle), f(s.service_result), f(s.service_diagnostics);
        f(s.string_table), f(s.additional_header);
    }
    bool operator==(const ResponseHeader&) const = default;
};

// P4 §7.30; encoding id from P6 Annex A (NodeIds.csv).
struct ServiceFault {
    static constexpr uint32_t kEncodingId = 397;
    ResponseHeader response_header;

    template <typename S, typename F>
    static void visit(S& s, F&& f) { f(s.response_header); }
    bool operator==(const ServiceFault&) const = default;
};

}  // namespace ib::drivers::opcua
