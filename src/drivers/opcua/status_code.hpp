// StatusCode names and severity (OPC 10000-4 §7.34, OPC 10000-6 §5.2.2.11; values
// from the specification's StatusCode.csv). The table holds the codes a collecting
// client meets; status_name() gives the name a per-tag error carries.
#pragma once

#include <string>
#include <string_view>

#include "drivers/opcua/builtin_types.hpp"

namespace ib::drivers::opcua {

// The codes the client's own logic tests for, by name.
namespace status {
inline constexpr StatusCode Good{0x00000000};
inline constexpr StatusCode Uncertain{0x40000000};
inline constexpr StatusCode Bad{0x80000000};
inline constexpr StatusCode BadUnexpectedError{0x80010000};
inline constexpr StatusCode BadInternalError{0x80020000};
inline constexpr StatusCode BadCommunicationError{0x80050000};
inline constexpr StatusCode BadEncodingError{0x80060000};
inline constexpr StatusCode BadDecodingError{0x80070000};
inline constexpr StatusCode BadEncodingLimitsExceeded{0x80080000};
inline constexpr StatusCode BadUnknownResponse{0x80090000};
inline constexpr StatusCode BadTimeout{0x800A0000};
inline constexpr StatusCode BadServiceUnsupported{0x800B0000};
inline constexpr StatusCode BadServerNotConnected{0x800D0000};
inline constexpr StatusCode BadTooManyOperations{0x80100000};
inline constexpr StatusCode BadCertificateInvalid{0x80120000};
inline constexpr StatusCode BadSecurityChecksFailed{0x80130000};
inline constexpr StatusCode BadCertificateTimeInvalid{0x80140000};
inline constexpr StatusCode BadCertificateUriInvalid{0x80170000};
inline constexpr StatusCode BadCertificateUntrusted{0x801A0000};
inline constexpr StatusCode BadCertificateRevoked{0x801D0000};
inline constexpr StatusCode BadCertificateIssuerRevoked{0x801E0000};
inline constexpr StatusCode BadUserAccessDenied{0x801F0000};
inline constexpr StatusCode BadIdentityTokenInvalid{0x80200000};
inline constexpr StatusCode BadIdentityTokenRejected{0x80210000};
inline constexpr StatusCode BadSecureChannelIdInvalid{0x80220000};
inline constexpr StatusCode BadSessionIdInvalid{0x80250000};
inline constexpr StatusCode BadSessionClosed{0x80260000};
inline constexpr StatusCode BadSessionNotActivated{0x80270000};
inline constexpr StatusCode BadSubscriptionIdInvalid{0x80280000};
inline constexpr StatusCode BadNodeIdUnknown{0x80340000};
inline constexpr StatusCode BadNotReadable{0x803A0000};
inline constexpr StatusCode BadNotWritable{0x803B0000};
inline constexpr StatusCode BadSecurityModeRejected{0x80540000};
inline constexpr StatusCode BadSecurityPolicyRejected{0x80550000};
inline constexpr StatusCode BadApplicationSignatureInvalid{0x80580000};
inline constexpr StatusCode BadTypeMismatch{0x80740000};
inline constexpr StatusCode BadNoMatch{0x806F0000};
inline constexpr StatusCode BadNoSubscription{0x80790000};
inline constexpr StatusCode BadTcpMessageTypeInvalid{0x807E0000};
inline constexpr StatusCode BadTcpMessageTooLarge{0x80800000};
inline constexpr StatusCode BadTcpEndpointUrlInvalid{0x80830000};
inline constexpr StatusCode BadSecureChannelClosed{0x80860000};
inline constexpr StatusCode BadSecureChannelTokenUnknown{0x80870000};
inline constexpr StatusCode BadSequenceNumberInvalid{0x80880000};
inline constexpr StatusCode BadConfigurationError{0x80890000};
inline constexpr StatusCode BadProtocolVersionUnsupported{0x80BE0000};
inline constexpr StatusCode BadRequestTooLarge{0x80B80000};
inline constexpr StatusCode BadResponseTooLarge{0x80B90000};
inline constexpr StatusCode BadConnectionRejected{0x80AC0000};
inline constexpr StatusCode BadConnectionClosed{0x80AE0000};
}  // namespace status

// §5.2.2.11 / P4 §7.34.1: bits 30-31 are the severity: 00 Good, 01 Uncertain,
// 10 Bad (11 is reserved; treated as Bad).
inline bool is_good(StatusCode s) { return (s.value >> 30) == 0; }
inline bool is_uncertain(StatusCode s) { return (s.value >> 30) == 1; }
inline bool is_bad(StatusCode s) { return (s.value >> 30) >= 2; }

// The name of the code, looked up on bits 16-31 (the low 16 bits are info bits
// and flags, P4 §7.34.1): "BadNodeIdUnknown". Empty when the code is not in the
// table.
std::string_view status_name(StatusCode s);

// The name, or "0x80AB0000" when it has none; for logs and per-tag errors.
std::string describe(StatusCode s);

}  // namespace ib::drivers::opcua
