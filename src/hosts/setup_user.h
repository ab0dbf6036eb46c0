// distcc-mdns-hosts --setup-user: links the user's distcc hosts file to the one the daemon keeps for them.
#pragma once

#include <cstdio>
#include <functional>
#include <optional>
#include <string>

namespace dmdns {

// The daemon's answer to setup-user: the file it keeps for this user, or
// why it keeps none.
struct UserFileAnswer {
	std::string path;    // absolute, when it keeps one
	std::string refused; // the daemon's error, when it does not
};

// Asks the daemon to keep a file for this user ({"op":"setup-user"}; the
// daemon takes the uid from the socket, not from the request); nullopt
// when no daemon answered.
using AskDaemon = std::function<std::optional<UserFileAnswer>()>;

inline constexpr int kSetupUserFailed = 1;

// Asks the daemon to keep a hosts file for this user (@ask), then makes @distccDir/hosts a symbolic link to it, creating @distccDir (mode
// 0755) when missing. An existing hosts file that is not already that link
// is left alone with a message saying why and what to do; with @force it is
// moved to hosts.orig first (never over an existing hosts.orig). Prints
// what it did and how to undo it to @out; problems go to the log. Returns 0,
// or kSetupUserFailed.
int setupUser(const AskDaemon &ask, const std::string &distccDir, bool force, std::FILE *out);

} // namespace dmdns
