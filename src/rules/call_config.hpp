// What the actions that call a service (http, grpc) are configured with beyond
// the plain HTTP POST: TLS files, headers, how rows are ordered and how many go
// at once, and what becomes of the answer. Plain data, part of ActionConfig.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ib::rules {

struct CallConfig {
    // A template over the row's columns (`${device}`); rows of one key are sent
    // one at a time, in order; different keys go concurrently, up to `concurrency`.
    std::string key;
    uint32_t concurrency = 1;
    // TLS: PEM files. An empty ca_file trusts the system's CAs; cert_file and
    // key_file, together, present a client certificate.
    std::string ca_file;
    std::string cert_file;
    std::string key_file;
    // http: "Name: value" headers added to every request.
    std::vector<std::string> headers;
    // http: the answer (a JSON object) published to this topic template, filled
    // from the answer's fields; the payload is response_template over them, or
    // the answer itself.
    std::string response_topic;
    std::string response_template;
    // grpc: the server ("host:port"), whether the channel uses TLS, the .proto
    // file and the method called (`package.Service`, `Method`).
    std::string address;
    bool tls = false;
    std::string proto;
    std::string service;
    std::string method;
};

}  // namespace ib::rules
