// Finding the local distcc-mdnsd's query socket and asking it, for distcc-mdns-hosts and distcc-mdns-run.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "host/files.h"

namespace dmdns::client {

// The exit status when the daemon the user relies on does not do what was
// asked: an explicit socket that does not answer or is not trusted
// (man/distcc-mdns-hosts.1, EXIT STATUS).
inline constexpr int kDaemonFailed = 1;

// One socket a client may ask: the path, and why it is not asked when the
// checks before connecting already tell (missing, permission denied, not
// trusted).
struct Candidate {
	std::string path;
	std::optional<std::string> skipped;
};

// The words for a connect() or lstat() errno: the place, not the daemon,
// is what failed.
std::string placeFailure(int error);

// The sockets to try: @given (--socket or $DISTCC_MDNS_SOCKET), or the
// documented order (socketSearchOrder()). A given socket that fails the
// owner checks ends the program with kDaemonFailed: the user named it, and
// someone else serves it. In the order, such a socket is skipped with a
// warning naming it, and so is one this user may not reach.
std::vector<Candidate> socketsToTry(const std::optional<std::string> &given);

// A connected query socket whose listener the kernel vouches for.
struct Connection {
	host::UniqueFd fd; // -1 when failure says why
	uid_t server = 0;  // who runs the daemon
	std::string failure;
};

// Connects to @path (close-on-exec; non-blocking with @nonBlocking, when a
// full listen backlog fails at once instead of waiting) and checks that root, this
// user or kSystemUser listens there (SO_PEERCRED, fixed at the daemon's
// listen(): a socket file swapped after the checks still names its real
// owner).
Connection connectTrusted(const std::string &path, bool nonBlocking = false);

// What one socket did with a request: its reply object and who runs the
// daemon, or why there is none ("missing", "permission denied", "refused:
// ...", "no answer within 1 s", ...).
struct Exchange {
	std::string path;
	std::optional<nlohmann::json> reply;
	uid_t server = 0;
	std::string failure;
};

// One request to the daemon at @path and its reply object; the failure
// says why there is none (within a second, or the reply is no JSON object).
Exchange roundTrip(const std::string &path, const nlohmann::json &request);

} // namespace dmdns::client
