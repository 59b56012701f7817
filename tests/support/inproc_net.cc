#include "tests/support/inproc_net.h"

#include "tests/support/settle.h"
#include "tpmesh/pki/pki.h"

namespace tpmesh::testing {
namespace {

// The caller the TLS server builds from `cert_pem` ("" = anonymous).
net::Caller CallerFor(const std::string& cert_pem) {
  if (cert_pem.empty()) return net::Caller{};
  auto id = pki::IdentityFromCertPem(cert_pem);
  if (!id.ok()) return net::Caller{};
  const auto kind =
      id->kind == pki::PeerKind::kAdmin ? net::Caller::Kind::kAdmin : net::Caller::Kind::kNode;
  return net::Caller{kind, id->id, id->serial};
}

// "/p?a=1&b=2" -> path and query map (no percent-decoding: tests send none).
void SplitTarget(const std::string& target, net::HttpRequest& req) {
  const size_t q = target.find('?');
  req.path = target.substr(0, q);
  if (q == std::string::npos) return;
  std::string rest = target.substr(q + 1);
  while (!rest.empty()) {
    const size_t amp = rest.find('&');
    const std::string item = rest.substr(0, amp);
    const size_t eq = item.find('=');
    req.query[item.substr(0, eq)] = eq == std::string::npos ? "" : item.substr(eq + 1);
    rest = amp == std::string::npos ? "" : rest.substr(amp + 1);
  }
}

}  // namespace

class InProcessNet::InProcessClient final : public net::Client {
 public:
  InProcessClient(InProcessNet& net, std::string base_url, net::Caller caller)
      : net_(net), base_url_(std::move(base_url)), caller_(std::move(caller)) {}
  Result<net::ClientResponse> Get(const std::string& path) override {
    return net_.Call(base_url_, caller_, "GET", path, "");
  }
  Result<net::ClientResponse> Post(const std::string& path, const std::string& body) override {
    return net_.Call(base_url_, caller_, "POST", path, body);
  }
  Result<net::ClientResponse> Delete(const std::string& path) override {
    return net_.Call(base_url_, caller_, "DELETE", path, "");
  }
  void Cancel() override {}  // nothing ever blocks

 private:
  InProcessNet& net_;
  std::string base_url_;
  net::Caller caller_;
};

Result<std::unique_ptr<net::Client>> InProcessNet::MakeClient(const net::ClientOptions& o) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    clients_.push_back(Made{o.base_url, o.ca_pem, o.client_cert_pem, o.timeout_seconds});
  }
  return std::unique_ptr<net::Client>(
      new InProcessClient(*this, o.base_url, CallerFor(o.client_cert_pem)));
}

void InProcessNet::SetReachable(const std::string& base_url, bool reachable) {
  std::lock_guard<std::mutex> lock(mu_);
  if (reachable) {
    unreachable_.erase(base_url);
  } else {
    unreachable_.insert(base_url);
  }
}

Result<net::ClientResponse> InProcessNet::Call(const std::string& base_url,
                                               const net::Caller& caller, const std::string& method,
                                               const std::string& target, const std::string& body) {
  Request rec{base_url, method, target, body, caller.id, false, 0, ""};
  bool reachable = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    reachable = unreachable_.count(base_url) == 0;
  }
  if (!reachable) {
    std::lock_guard<std::mutex> lock(mu_);
    requests_.push_back(std::move(rec));
    return MakeError(Code::kUnavailable, "authority_unreachable",
                     base_url + ": unreachable (test)");
  }
  net::HttpRequest req;
  req.method = method;
  req.body = body;
  req.remote_addr = "192.0.2.7";
  SplitTarget(target, req);
  if (method == "GET" && req.query.count("wait")) req.query["wait"] = "0";  // never block
  net::HttpResponse r = testing::Settle(handler_(req, caller));
  rec.reached = true;
  rec.status = r.status;
  rec.response = r.body;
  std::lock_guard<std::mutex> lock(mu_);
  requests_.push_back(std::move(rec));
  return net::ClientResponse{r.status, std::move(r.body)};
}

std::vector<InProcessNet::Request> InProcessNet::requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

std::vector<InProcessNet::Made> InProcessNet::clients() const {
  std::lock_guard<std::mutex> lock(mu_);
  return clients_;
}

void InProcessNet::ClearLog() {
  std::lock_guard<std::mutex> lock(mu_);
  requests_.clear();
  clients_.clear();
}

}  // namespace tpmesh::testing
