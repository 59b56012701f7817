#include "ctl/connect.h"

#include <sodium.h>

#include "tpmesh/net/http.h"

namespace tpmesh::ctl {
namespace {

class HttpsAdminApi final : public AdminApi {
 public:
  explicit HttpsAdminApi(std::unique_ptr<net::Client> client) : client_(std::move(client)) {}

  Result<json> Send(const Request& r) override {
    Result<net::ClientResponse> resp = Error{};
    if (r.method == "GET") {
      resp = client_->Get(r.path);
    } else if (r.method == "POST") {
      resp = client_->Post(r.path, r.body ? r.body->dump() : std::string("{}"));
    } else if (r.method == "DELETE") {
      resp = client_->Delete(r.path);
    } else {
      return MakeError(Code::kInternal, "bad_method", "unsupported method " + r.method);
    }
    if (!resp.ok()) return resp.take_error();
    if (resp->status < 200 || resp->status > 299) return net::ErrorFromResponse(*resp);
    json body = json::parse(resp->body, nullptr, false);
    if (body.is_discarded()) {
      return MakeError(
          Code::kInternal, "bad_response",
          "the authority answered " + r.method + " " + r.path + " with a body that is not JSON");
    }
    return body;
  }

 private:
  std::unique_ptr<net::Client> client_;
};

}  // namespace

Result<std::unique_ptr<AdminApi>> ConnectHttps(const Connection& c) {
  return ConnectWith(c, [](const net::ClientOptions& o) { return net::MakeClient(o); });
}

Result<std::unique_ptr<AdminApi>> ConnectWith(const Connection& c,
                                              const ClientFactory& make_client) {
  net::ClientOptions o;
  o.base_url = c.base_url;
  o.ca_pem = c.ca_pem;
  o.client_cert_pem = c.cert_pem;
  o.client_key_pem = c.key_pem;
  auto client = make_client(o);
  sodium_memzero(o.client_key_pem.data(), o.client_key_pem.size());
  if (!client.ok()) return client.take_error();
  return std::unique_ptr<AdminApi>(std::make_unique<HttpsAdminApi>(std::move(*client)));
}

}  // namespace tpmesh::ctl
