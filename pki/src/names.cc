// The names a server certificate was issued for (CA rotation re-issues the
// server certificate for the same names).
#include <arpa/inet.h>

#include <openssl/x509v3.h>

#include "ossl.h"
#include "tpmesh/pki/pki.h"

namespace tpmesh::pki {

using ossl::GenNames;
using ossl::ReadCertPem;
using ossl::X509Ptr;

Result<ServerNames> ServerCertNames(std::string_view cert_pem) {
  TPMESH_ASSIGN_OR_RETURN(X509Ptr cert,
                          ReadCertPem(cert_pem, "server certificate", "invalid_certificate"));
  GenNames names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr)));
  ServerNames out;
  if (!names) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* n = sk_GENERAL_NAME_value(names.get(), i);
    if (n->type == GEN_DNS) {
      const ASN1_STRING* s = n->d.dNSName;
      out.dns_names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                 static_cast<size_t>(ASN1_STRING_length(s)));
    } else if (n->type == GEN_IPADD) {
      const ASN1_OCTET_STRING* ip = n->d.iPAddress;
      char text[INET6_ADDRSTRLEN] = {};
      const int len = ASN1_STRING_length(ip);
      const int family = len == 4 ? AF_INET : len == 16 ? AF_INET6 : 0;
      if (family != 0 &&
          inet_ntop(family, ASN1_STRING_get0_data(ip), text, sizeof text) != nullptr) {
        out.ip_addresses.emplace_back(text);
      }
    }
  }
  return out;
}

}  // namespace tpmesh::pki
