// Where the query socket lives and whom its users trust: the daemon's directory, the clients' order and checks.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace dmdns {

// The system daemon's socket, which every local user may reach.
inline constexpr const char *kSystemSocket = "/run/distcc-mdns/socket";
// The fixed user the packaged daemon runs as.
inline constexpr const char *kSystemUser = "distcc-mdns";

// The uid of kSystemUser, or nullopt when no such user exists.
std::optional<uid_t> systemUid();

// The socket a daemon run by this user uses when not told: root's and the
// system user's is kSystemSocket, anyone else's
// $XDG_RUNTIME_DIR/distcc-mdns/socket, else /tmp/distcc-mdns-UID/socket.
std::string ownSocketPath();

// The sockets a client tries, in order, when not given one: its own
// user's daemon (ownSocketPath()), then the system daemon's.
std::vector<std::string> socketSearchOrder();

// The mode of a socket directory the daemon creates: 0755 for a system
// daemon (root or kSystemUser: any local user may query), 0700 for a
// per-user one (only its user may).
mode_t socketDirectoryMode();

// Makes the directory @dir ready for the daemon's socket: creates it with
// socketDirectoryMode() if absent, never follows a link there (it is
// opened with O_NOFOLLOW), changes the mode only of a directory it
// created (through the descriptor), and refuses a directory owned by
// another user than this process's or root. Throws std::runtime_error
// naming @dir. A directory others may write to is used with a warning:
// clients will not trust it.
void prepareSocketDirectory(const std::string &dir);

// Whether a client may talk to the socket at @path as user @caller: the
// socket and its directory must be owned by @caller, root or kSystemUser,
// neither a link, and the directory writable by no one else.
struct SocketCheck {
	enum class Verdict {
		Absent,
		Trusted,
		Refused
	};
	Verdict verdict;
	std::string why; // for Refused: what is wrong, naming the path
	// For Absent: lstat()'s errno, ENOENT for a socket that is not there,
	// EACCES for one this user may not look at (which is not "no daemon").
	int error = 0;
};
SocketCheck checkSocket(const std::string &path, uid_t caller);

// Whether @uid may serve a client of user @caller: @caller, root or kSystemUser.
bool trustedOwner(uid_t uid, uid_t caller);

// "root", kSystemUser, a user's name, else "uid N": who owns a socket or
// runs a daemon, for messages.
std::string userName(uid_t uid);

} // namespace dmdns
