// Helpers shared by the netlink sources of tpmesh_wg (not installed).
#pragma once

#include <libmnl/libmnl.h>
#include <linux/netlink.h>

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "tpmesh/common/bytes.h"
#include "tpmesh/common/result.h"

namespace tpmesh::wg::nl {

Error Malformed(std::string msg);

// Calls fn for each attribute in [data, data + len). A truncated attribute
// or bytes left over after the last one: "netlink_malformed" naming `where`.
// Stops at the first error fn returns.
Status ForEachAttr(const void* data, size_t len, std::string_view where,
                   const std::function<Status(const nlattr*)>& fn);

// The attributes of `message` after its nlmsghdr and `extra` bytes of
// family header; error if the message is shorter than that.
Status ForEachMessageAttr(ByteView message, size_t extra, std::string_view where,
                          const std::function<Status(const nlattr*)>& fn);

// The attributes nested in `attr`.
Status ForEachNestedAttr(const nlattr* attr, std::string_view where,
                         const std::function<Status(const nlattr*)>& fn);

// `attr`'s payload must be exactly `len` bytes ("netlink_malformed" naming it).
Status ExpectLen(const nlattr* attr, size_t len, std::string_view name);
// A NUL-terminated string attribute of at most `max` characters.
Result<std::string> GetString(const nlattr* attr, size_t max, std::string_view name);

// A buffer of `size` zero bytes with a netlink header of `type`/`flags`/`seq`
// and, if extra > 0, that many zero bytes of family header reserved.
struct MessageBuffer {
  Bytes bytes;
  nlmsghdr* nlh = nullptr;
  MessageBuffer() = default;
  MessageBuffer(size_t size, uint16_t type, uint16_t flags, uint32_t seq, size_t extra);
  void* extra_header() const;
  // The finished message (nlmsg_len bytes); the buffer is left empty.
  Bytes Take();
};

}  // namespace tpmesh::wg::nl
