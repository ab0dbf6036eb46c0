// Finding the local distcc-mdnsd's query socket and asking it (client/daemon_socket.h).
#include "client/daemon_socket.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "common/log.h"
#include "daemon/socket_dir.h"

namespace dmdns::client {

std::string placeFailure(int error)
{
	switch (error) {
	case ENOENT:
	case ENOTDIR:
		return "missing";
	case EACCES:
	case EPERM:
		return "permission denied";
	case ECONNREFUSED:
		return "refused: no daemon listens there (a stale socket?)";
	default:
		return std::strerror(error);
	}
}

std::vector<Candidate> socketsToTry(const std::optional<std::string> &given)
{
	if (given) {
		const SocketCheck check = checkSocket(*given, geteuid());
		if (check.verdict == SocketCheck::Verdict::Refused) {
			log(LogLevel::Error, "refusing the query socket {}: {}", *given, check.why);
			std::exit(kDaemonFailed);
		}
		// Absent: connect() says whether it is missing or forbidden.
		return { { *given, std::nullopt } };
	}
	std::vector<Candidate> out;
	for (std::string &path : socketSearchOrder()) {
		const SocketCheck check = checkSocket(path, geteuid());
		switch (check.verdict) {
		case SocketCheck::Verdict::Refused:
			log(LogLevel::Warning, "ignoring the query socket {}: {}", path, check.why);
			out.push_back({ std::move(path), "not trusted: " + check.why });
			break;
		case SocketCheck::Verdict::Absent: {
			std::string why = placeFailure(check.error);
			if (check.error == EACCES || check.error == EPERM)
				log(LogLevel::Warning, "cannot reach the query socket {}: permission denied", path);
			out.push_back({ std::move(path), std::move(why) });
			break;
		}
		case SocketCheck::Verdict::Trusted:
			out.push_back({ std::move(path), std::nullopt });
			break;
		}
	}
	return out;
}

Connection connectTrusted(const std::string &path, bool nonBlocking)
{
	Connection out;
	sockaddr_un address{};
	address.sun_family = AF_UNIX;
	if (path.size() >= sizeof address.sun_path) {
		out.failure = "path too long for a Unix socket";
		return out;
	}
	path.copy(address.sun_path, path.size());
	host::UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (nonBlocking ? SOCK_NONBLOCK : 0), 0));
	if (fd.get() < 0) {
		out.failure = std::strerror(errno);
		return out;
	}
	if (connect(fd.get(), reinterpret_cast<const sockaddr *>(&address), sizeof address) < 0) {
		out.failure = errno == EAGAIN ? std::string("busy: its listen queue is full") : placeFailure(errno);
		log(LogLevel::Info, "no daemon at {}: {}", path, out.failure);
		return out;
	}
	ucred server{};
	socklen_t length = sizeof server;
	if (getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &server, &length) != 0 || length != sizeof server ||
	    !trustedOwner(server.uid, geteuid())) {
		out.failure = fmt::format("not trusted: the daemon runs as {}, not as you, root or {}",
					  userName(server.uid), kSystemUser);
		log(LogLevel::Warning, "ignoring the daemon at {}: {}", path, out.failure);
		return out;
	}
	out.server = server.uid;
	out.fd = std::move(fd);
	return out;
}

Exchange roundTrip(const std::string &path, const nlohmann::json &request)
{
	Exchange out{ path, std::nullopt, 0, {} };
	Connection c = connectTrusted(path);
	if (c.fd.get() < 0) {
		out.failure = std::move(c.failure);
		return out;
	}
	const int fd = c.fd.get();
	const timeval timeout{ 1, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
	out.server = c.server;
	const std::string line = request.dump() + "\n";
	if (send(fd, line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size())) {
		out.failure = fmt::format("refused the request: {}", std::strerror(errno));
		return out;
	}

	std::string reply;
	char buffer[16384];
	// A reply describes at most a few hundred servers; 4 MiB is ample.
	bool timedOut = false;
	while (reply.find('\n') == std::string::npos && reply.size() < (4u << 20)) {
		const ssize_t n = recv(fd, buffer, sizeof buffer, 0);
		if (n <= 0) {
			timedOut = n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
			break;
		}
		reply.append(buffer, static_cast<std::size_t>(n));
	}
	nlohmann::json object = nlohmann::json::parse(reply.substr(0, reply.find('\n')), nullptr, false);
	if (object.is_discarded() || !object.is_object()) {
		out.failure = timedOut ? "no answer within 1 s" : "no valid reply";
		return out;
	}
	out.reply = std::move(object);
	return out;
}

} // namespace dmdns::client
