#include "app/opcua_routes.hpp"

#include "api/http_server.hpp"
#include "core/json_writer.hpp"
#include "drivers/opcua/pki.hpp"
#include "drivers/opcua/status_code.hpp"

namespace ib::app {
namespace {

using drivers::opcua::CertificateInfo;
using drivers::opcua::Pki;

void write_certificate(JsonWriter& w, const CertificateInfo& c) {
    w.begin_object()
        .field("thumbprint", c.thumbprint)
        .field("subject", c.subject)
        .field("application_uri", c.application_uri)
        .field("not_before", c.not_before)
        .field("not_after", c.not_after)
        .field("trusted", c.trusted)
        .field("file", c.file)
        .end_object();
}

api::HttpResponse moved(const Pki& pki, std::string_view thumbprint, bool trust) {
    auto r = trust ? pki.trust(thumbprint) : pki.reject(thumbprint);
    if (!r) {
        const bool missing = r.error().status == drivers::opcua::status::BadCertificateInvalid;
        return api::json_error(missing ? 404 : 500, r.error().message);
    }
    api::HttpResponse out;
    JsonWriter w(out.body);
    write_certificate(w, *r);
    return out;
}

}  // namespace

void add_opcua_routes(api::HttpServer& server, std::string pki_dir, boost::asio::io_context& devices_loop) {
    server.route(
        "GET", "/api/v1/opcua/certificates",
        [pki_dir](const api::HttpRequest&) {
            api::HttpResponse r;
            JsonWriter w(r.body);
            w.begin_array();
            for (const CertificateInfo& c : Pki(pki_dir).list()) write_certificate(w, c);
            w.end_array();
            return r;
        },
        &devices_loop);
    server.route(
        "POST", "/api/v1/opcua/certificates/{thumbprint}/trust",
        [pki_dir](const api::HttpRequest& req) { return moved(Pki(pki_dir), req.param("thumbprint"), true); },
        &devices_loop);
    server.route(
        "POST", "/api/v1/opcua/certificates/{thumbprint}/reject",
        [pki_dir](const api::HttpRequest& req) { return moved(Pki(pki_dir), req.param("thumbprint"), false); },
        &devices_loop);
}

}  // namespace ib::app
