// The daemon's Unix query socket: one JSON request per line, one JSON reply per line.
#pragma once

#include <cstddef>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>

#include <sys/types.h>

#include <nlohmann/json.hpp>

#include "handle.h"

namespace dmdns {

class QueryServer final
{
public:
	// A request is one line of at most this many bytes.
	static constexpr std::size_t kMaxRequest = 4096;
	// Connections beyond this get an error reply and are closed.
	static constexpr std::size_t kMaxConnections = 128;

	// Who sent a request: the kernel's word on the peer's user.
	struct Caller {
		std::optional<uid_t> uid;
	};

	// Answers one well-formed request object; may throw std::invalid_argument
	// for a request it refuses, which becomes an error reply.
	using Handler = std::function<nlohmann::json(const nlohmann::json &request, const Caller &caller)>;

	// Listens on @path (creating its directory) until destroyed. Throws
	// std::runtime_error if the socket cannot be created.
	QueryServer(uv_loop_t &loop, std::string path, Handler handler);
	~QueryServer();

	QueryServer(const QueryServer &) = delete;
	QueryServer &operator=(const QueryServer &) = delete;

private:
	struct Connection {
		std::unique_ptr<uv::Stream> stream;
		std::string buffer;
		bool closing = false; // refused or shutting down: ignore input
		bool closed = false;  // the stream is closed: free it
	};

	void accept(std::unique_ptr<uv::Stream> stream);
	void received(Connection &connection, std::string_view data);
	// Sends an error reply, then closes.
	void refuse(Connection &connection, std::string_view why);
	void closed(Connection &connection);

	Handler handler_;
	std::list<Connection> connections_;
	// Frees closed connections outside their own callbacks.
	uv::Timer reaper_;
	std::unique_ptr<uv::UnixServer> server_;
};

// The reply line, newline included, to one request line: the handler's
// object with "ok":true, or {"ok":false,"error":...} for a request that is
// not a JSON object or that the handler refuses.
std::string answerLine(std::string_view line, const QueryServer::Handler &handler,
		       const QueryServer::Caller &caller = {});

// The socket path both programs use: $DISTCC_MDNS_SOCKET, else
// /run/distcc-mdns/socket for root, else $XDG_RUNTIME_DIR/distcc-mdns/socket.
std::string defaultSocketPath();

} // namespace dmdns
