// The HTTPS client and the trust bootstrap (FetchPinnedCa).
//
// Server verification is done by OpenSSL in the handshake (SSL_VERIFY_PEER,
// our own X509_STORE, host/IP checked through X509_VERIFY_PARAM), with
// httplib's own verification switched off: in cpp-httplib 0.11.4
// SSLClient::load_certs() adds the system CA paths even when a CA store is
// set (fixed upstream only in PR #2335), which would defeat pinning.
#include <pthread.h>
#include <signal.h>

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <openssl/ssl.h>

#include "tpmesh/common/parse.h"
#include "tpmesh/net/http.h"
#include "tpmesh/ossl/pem.h"

namespace tpmesh::net {
namespace {

// TLS writes go through write(2): a server that closed the connection would
// raise SIGPIPE and end the whole process. While a request runs, SIGPIPE is
// blocked on the calling thread (the write fails with EPIPE instead) and one
// that became pending meanwhile is consumed; the process's own disposition is
// left alone.
class NoSigpipe {
 public:
  NoSigpipe() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigemptyset(&pending);
    was_pending_ = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~NoSigpipe() {
    sigset_t pending;
    sigemptyset(&pending);
    if (!was_pending_ && sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1) {
      const timespec zero{0, 0};
      (void)sigtimedwait(&pipe_, nullptr, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  NoSigpipe(const NoSigpipe&) = delete;
  NoSigpipe& operator=(const NoSigpipe&) = delete;

 private:
  sigset_t pipe_{};
  sigset_t old_{};
  bool was_pending_ = false;
};

constexpr size_t kMaxCaResponseBytes = 1024 * 1024;

struct BaseUrl {
  std::string text;  // as given, without a trailing '/'
  std::string host;  // without brackets
  int port = 443;
  bool ip_literal = false;
};

Result<BaseUrl> ParseBaseUrl(const std::string& url) {
  auto bad = [&](const std::string& why) {
    return MakeError(Code::kInvalidArgument, "invalid_url", "authority URL '" + url + "': " + why);
  };
  constexpr std::string_view kScheme = "https://";
  if (!std::string_view(url).starts_with(kScheme)) return bad("must start with https://");
  BaseUrl u;
  u.text = url;
  if (u.text.ends_with('/')) u.text.pop_back();
  std::string rest = u.text.substr(kScheme.size());
  if (rest.find_first_of("/?#@") != std::string::npos)
    return bad("only https://host[:port] is allowed (no path)");
  auto hp = ParseHostPort(rest, {.names = true, .port_optional = true}, "invalid_url");
  if (!hp.ok()) return bad(hp.error().message);
  u.host = hp->host;
  u.ip_literal = hp->kind != HostPort::Kind::kName;
  if (hp->has_port) u.port = hp->port;
  return u;
}

class HttpsClient final : public Client {
 public:
  // `verify` false: no server verification at all (trust bootstrap only).
  static Result<std::unique_ptr<HttpsClient>> Make(const ClientOptions& o, bool verify) {
    auto c = std::unique_ptr<HttpsClient>(new HttpsClient());
    TPMESH_ASSIGN_OR_RETURN(c->url_, ParseBaseUrl(o.base_url));
    bool has_cert = !o.client_cert_pem.empty();
    if (has_cert != !o.client_key_pem.empty()) {
      return MakeError(Code::kInvalidArgument, "invalid_client_options",
                       "client_cert_pem and client_key_pem must be given together");
    }
    if (o.timeout_seconds < 1) {
      return MakeError(Code::kInvalidArgument, "invalid_client_options",
                       "timeout_seconds must be positive");
    }
    if (has_cert) {
      TPMESH_ASSIGN_OR_RETURN(
          ossl::X509Ptr cert,
          ossl::ReadCertPem(o.client_cert_pem, "client certificate", "invalid_certificate"));
      TPMESH_ASSIGN_OR_RETURN(ossl::Pkey key,
                              ossl::ReadKeyPem(o.client_key_pem, "client key", "invalid_key"));
      if (X509_check_private_key(cert.get(), key.get()) != 1) {
        ERR_clear_error();
        return MakeError(Code::kInvalidArgument, "key_mismatch",
                         "client key does not match the client certificate");
      }
      // httplib takes references (SSL_CTX_use_certificate/PrivateKey); ours are freed here.
      c->cli_ =
          std::make_unique<httplib::SSLClient>(c->url_.host, c->url_.port, cert.get(), key.get());
    } else {
      c->cli_ = std::make_unique<httplib::SSLClient>(c->url_.host, c->url_.port);
    }
    if (!c->cli_->is_valid()) return ossl::CryptoError("TLS client context");

    SSL_CTX* ctx = c->cli_->ssl_context();
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1)
      return ossl::CryptoError("TLS 1.3 only");
    c->cli_->enable_server_certificate_verification(
        false);  // OpenSSL verifies; see the top of this file
    if (verify) {
      TPMESH_ASSIGN_OR_RETURN(auto cas, ossl::ReadCertsPem(o.ca_pem, "CA", "invalid_certificate"));
      X509_STORE* store = X509_STORE_new();
      if (store == nullptr) return ossl::CryptoError("X509_STORE_new");
      SSL_CTX_set_cert_store(ctx, store);  // owns it from here
      for (const auto& ca : cas) {
        if (X509_STORE_add_cert(store, ca.get()) != 1) return ossl::CryptoError("CA");
      }
      X509_VERIFY_PARAM* param = SSL_CTX_get0_param(ctx);
      int ok = c->url_.ip_literal ? X509_VERIFY_PARAM_set1_ip_asc(param, c->url_.host.c_str())
                                  : X509_VERIFY_PARAM_set1_host(param, c->url_.host.c_str(), 0);
      if (ok != 1) return ossl::CryptoError("server name check for " + c->url_.host);
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    } else {
      SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
    }
    c->cli_->set_connection_timeout(o.timeout_seconds, 0);
    c->cli_->set_read_timeout(o.timeout_seconds, 0);
    c->cli_->set_write_timeout(o.timeout_seconds, 0);
    c->cli_->set_keep_alive(o.keep_alive);
    c->cli_->set_follow_location(false);
    // The request follows the TLS handshake at once: without TCP_NODELAY it
    // waits for the ACK of the client Finished (~40 ms of delayed ACK).
    c->cli_->set_tcp_nodelay(true);
    return c;
  }

  Result<ClientResponse> Get(const std::string& path) override {
    TPMESH_RETURN_IF_ERROR(CheckPath(path));
    ERR_clear_error();
    const NoSigpipe guard;
    return Finish(cli_->Get(path.c_str()), path);
  }
  Result<ClientResponse> Post(const std::string& path, const std::string& body) override {
    TPMESH_RETURN_IF_ERROR(CheckPath(path));
    ERR_clear_error();
    const NoSigpipe guard;
    return Finish(cli_->Post(path.c_str(), body, "application/json"), path);
  }
  Result<ClientResponse> Delete(const std::string& path) override {
    TPMESH_RETURN_IF_ERROR(CheckPath(path));
    ERR_clear_error();
    const NoSigpipe guard;
    return Finish(cli_->Delete(path.c_str()), path);
  }
  void Cancel() override { cli_->stop(); }

  // Whether the last failed request failed because the server certificate
  // did not verify (chain or name).
  bool verification_failed() const { return verification_failed_; }
  const std::string& url() const { return url_.text; }

 private:
  HttpsClient() = default;

  static Status CheckPath(const std::string& path) {
    if (path.empty() || path[0] != '/' || path.find_first_of(" \r\n\t") != std::string::npos) {
      return MakeError(Code::kInvalidArgument, "invalid_path",
                       "request path must start with '/' and hold no spaces");
    }
    return OkStatus();
  }

  Result<ClientResponse> Finish(httplib::Result res, const std::string& path) {
    verification_failed_ = false;
    if (res) return ClientResponse{res->status, res->body};
    // What OpenSSL recorded on this thread during the attempt, if anything.
    std::string detail;
    const char* data = nullptr;
    int flags = 0;
    while (unsigned long e = ERR_get_error_all(nullptr, nullptr, nullptr, &data, &flags)) {
      if (ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
        verification_failed_ = true;
      }
      // httplib's SSL_shutdown after a failed handshake adds this one; noise.
      if (ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_SHUTDOWN_WHILE_IN_INIT)
        continue;
      const char* reason = ERR_reason_error_string(e);
      if (!detail.empty()) detail += "; ";
      detail += reason ? reason : "unknown TLS error";
      if ((flags & ERR_TXT_STRING) && data && *data) detail += std::string(" (") + data + ")";
    }
    std::string msg = url_.text + path + ": " + httplib::to_string(res.error());
    if (!detail.empty()) msg += ": " + detail;
    if (verification_failed_) {
      msg += "; the server's certificate does not chain to the configured CA or does not name " +
             url_.host;
    }
    return MakeError(Code::kUnavailable, "authority_unreachable", msg);
  }

  BaseUrl url_;
  std::unique_ptr<httplib::SSLClient> cli_;
  bool verification_failed_ = false;
};

Error Mismatch(const std::string& message) {
  return MakeError(Code::kPermissionDenied, "ca_fingerprint_mismatch", message);
}

// GET /v1/ca -> the "ca_bundle" PEM.
Result<std::string> GetCaBundle(HttpsClient& client) {
  TPMESH_ASSIGN_OR_RETURN(ClientResponse r, client.Get("/v1/ca"));
  if (r.status != 200) return ErrorFromResponse(r);
  auto bad = [&](const std::string& why) {
    return MakeError(Code::kInternal, "invalid_ca_response", client.url() + "/v1/ca: " + why);
  };
  if (r.body.size() > kMaxCaResponseBytes) return bad("response larger than 1 MiB");
  nlohmann::json j = nlohmann::json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return bad("response is not a JSON object");
  auto it = j.find("ca_bundle");
  if (it == j.end() || !it->is_string()) return bad("response has no \"ca_bundle\" string");
  return it->get<std::string>();
}

// The PEM block of the certificate in `bundle` whose SHA-256 fingerprint is
// `pinned` (raw bytes); kPermissionDenied if there is none.
Result<std::string> FindPinned(const std::string& bundle, const Bytes& pinned,
                               const std::string& url) {
  TPMESH_ASSIGN_OR_RETURN(std::vector<std::string> all, pki::BundleFingerprints(bundle));
  constexpr std::string_view kBegin = "-----BEGIN CERTIFICATE-----";
  constexpr std::string_view kEnd = "-----END CERTIFICATE-----";
  std::optional<std::string> found;
  for (size_t pos = bundle.find(kBegin); pos != std::string::npos;
       pos = bundle.find(kBegin, pos + 1)) {
    size_t end = bundle.find(kEnd, pos);
    if (end == std::string::npos) break;
    std::string block = bundle.substr(pos, end + kEnd.size() - pos) + "\n";
    auto fp = pki::BundleFingerprints(block);
    if (!fp.ok() || fp->size() != 1) continue;
    auto raw = HexDecode(fp->front());
    if (raw.ok() && ConstantTimeEqual(*raw, pinned) && !found) found = std::move(block);
  }
  if (found) return *std::move(found);
  std::string served;
  for (const std::string& f : all) served += (served.empty() ? "" : ", ") + f;
  return Mismatch("the CA bundle served by " + url + " has fingerprint(s) " + served +
                  "; none is the pinned " + HexEncode(pinned) +
                  " (compare with what `tpmesh-authority init` printed)");
}

}  // namespace

Result<std::unique_ptr<Client>> MakeClient(const ClientOptions& options) {
  if (options.ca_pem.empty()) {
    return MakeError(
        Code::kInvalidArgument, "invalid_client_options",
        "ca_pem is required to verify the authority (bootstrap it with FetchPinnedCa)");
  }
  TPMESH_ASSIGN_OR_RETURN(auto c, HttpsClient::Make(options, /*verify=*/true));
  return std::unique_ptr<Client>(std::move(c));
}

Result<std::string> FetchPinnedCa(const std::string& base_url,
                                  const std::string& pinned_fingerprint, int timeout_seconds) {
  std::string hex;
  for (char c : pinned_fingerprint) {
    if (c != ':') hex += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  auto pinned = HexDecode(hex);
  if (hex.size() != 64 || !pinned.ok()) {
    return MakeError(Code::kInvalidArgument, "invalid_fingerprint",
                     "CA fingerprint: expected 64 hex digits (SHA-256, ':' separators allowed)");
  }
  ClientOptions o;
  o.base_url = base_url;
  o.timeout_seconds = timeout_seconds;

  // 1. Unverified: fetch the bundle and find the pinned certificate in it.
  TPMESH_ASSIGN_OR_RETURN(auto insecure, HttpsClient::Make(o, /*verify=*/false));
  TPMESH_ASSIGN_OR_RETURN(std::string first, GetCaBundle(*insecure));
  TPMESH_ASSIGN_OR_RETURN(std::string pinned_pem, FindPinned(first, *pinned, insecure->url()));

  // 2. Verified against the pinned certificate alone: the server must hold a
  //    certificate it issued. The bundle returned is the one from this
  //    authenticated connection.
  o.ca_pem = pinned_pem;
  TPMESH_ASSIGN_OR_RETURN(auto verified, HttpsClient::Make(o, /*verify=*/true));
  auto bundle = GetCaBundle(*verified);
  if (!bundle.ok()) {
    if (verified->verification_failed()) {
      return Mismatch("the server certificate of " + verified->url() +
                      " does not chain to the pinned CA (or does not name the host): " +
                      bundle.error().message);
    }
    return bundle.take_error();
  }
  TPMESH_RETURN_IF_ERROR(FindPinned(*bundle, *pinned, verified->url()));
  return bundle;
}

}  // namespace tpmesh::net
