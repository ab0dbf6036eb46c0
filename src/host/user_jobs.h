// Who on this machine runs distcc now: its clients and their connections to servers, per uid.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>

namespace dmdns::host {

// A server as a hosts line names it: numeric address (IPv6 without
// brackets or scope, an IPv4-mapped one as plain IPv4) and port.
using ServerAddress = std::pair<std::string, std::uint16_t>;
using JobsByServer = std::map<ServerAddress, std::uint32_t>;

// Per uid of @uids: its ESTABLISHED TCP connections from this machine to a
// remote port in @ports, counted per remote address and port. distcc holds
// one such connection per remote job, so this is each user's jobs in flight,
// seen from the kernel's socket table, which a daemon can read for every
// user: distcc's own lock files sit in each home, hidden from the packaged
// unit. Read from /proc/net/tcp{,6} under @procRoot today; this one function
// is where a netlink reader (NETLINK_SOCK_DIAG) would take over.
std::map<std::uint32_t, JobsByServer> tcpJobsByUid(const std::set<std::uint32_t> &uids,
						   const std::set<std::uint16_t> &ports,
						   const std::string &procRoot = "/proc");

// Per uid: the distcc clients running in this network namespace (processes
// named distcc whose parent is not one, i.e. compiles, not the helpers a
// client forks). Reads only what /proc shows every user (stat, status), so
// a daemon that is not root counts every user's clients; a process whose
// namespace it may not read is counted (a real machine has one namespace).
std::map<std::uint32_t, std::uint32_t> distccClientsByUid(const std::string &procRoot = "/proc");

} // namespace dmdns::host
