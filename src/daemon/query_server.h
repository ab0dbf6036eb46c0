// The daemon's Unix query socket: one JSON request per line, one JSON reply per line.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

#include "daemon/request.h"
#include "uv/handle.h"

namespace dmdns {

// Bounds on what the local users may hold of the daemon's query socket.
// The memory they bound is at most total x (QueryServer::kMaxRequest +
// writeQueue + one reply), about 40 MiB for a farm of a few hundred
// servers; in practice a build holds one connection for milliseconds.
struct QueryLimits {
	// A connection that has not completed a request for this long (idle,
	// or half a request sent) is closed: a hosts query is answered at once,
	// and a client that holds a slot without asking must not keep it from
	// others (dbus allows 30 s and varlink 45 s for remote-ish peers; ours
	// are local processes that write one line).
	static constexpr std::chrono::milliseconds kIdleTimeout{ 5000 };
	// Connections served at once, all users together.
	static constexpr std::size_t kMaxConnections = 128;
	// Of those, the last 16 are only for the privileged users, so that
	// root's --set-state gets through whatever the others hold.
	static constexpr std::size_t kReservedConnections = 16;
	// Connections one ordinary user may hold: a quarter of the total, so
	// one user cannot fill the table and a few still leave room.
	static constexpr std::size_t kMaxPerUid = 32;
	// Unread replies a client may leave queued beyond the one being
	// written: it asks and does not read. A reply describes the farm, and
	// a few hundred servers fit in 256 KiB.
	static constexpr std::size_t kMaxWriteQueue = 256 * 1024;
	// A closing connection that has not flushed its last reply by then is
	// cut: its peer does not read.
	static constexpr std::chrono::milliseconds kLinger{ 1000 };

	std::chrono::milliseconds idle = kIdleTimeout;
	std::size_t total = kMaxConnections;
	std::size_t reserved = kReservedConnections;
	std::size_t perUid = kMaxPerUid;
	std::size_t writeQueue = kMaxWriteQueue;
	std::chrono::milliseconds linger = kLinger;
	// Watchers ("watch"): one user may keep a few views open, the machine
	// a few more; a watcher that does not read is closed once its unread
	// objects pass the backlog when the next one is due (a farm object
	// with ten minutes of history is about 3.5 KiB per server: 350 KiB for
	// 100 busy servers, tests/daemon/test_farm.cpp), so a watcher holds at
	// most the backlog plus one object.
	static constexpr std::size_t kMaxWatchersPerUid = 4;
	static constexpr std::size_t kMaxWatchers = 32;
	static constexpr std::size_t kMaxWatchBacklog = 1024 * 1024;
	std::size_t watchersPerUid = kMaxWatchersPerUid;
	std::size_t watchersTotal = kMaxWatchers;
	std::size_t watchBacklog = kMaxWatchBacklog;
	// Users the reserve and the per-user cap do not hold back: root and
	// the daemon's own user, who may change its state.
	std::vector<uid_t> privileged;

	// The figures above, with root and this process's user privileged.
	static QueryLimits defaults();
};

class QueryServer final
{
public:
	// A request is one line of at most this many bytes.
	static constexpr std::size_t kMaxRequest = 4096;

	using Caller = dmdns::Caller;

	// The reply line, newline included, to one request line (without its
	// newline): codec::answerLine() reads and writes the JSON.
	using Handler = std::function<std::string(std::string_view line, const Caller &caller)>;
	// A connection stopped being served, whatever the reason (the peer
	// closed, an error, the idle timeout, a refusal; told when the refusal
	// is sent, not when it is flushed): what it carried (a build's demand)
	// ends with it. Not called while the server is destroyed.
	using Closed = std::function<void(std::uint64_t connection, std::optional<uid_t> uid)>;

	// Listens on @path until destroyed, creating its directory as
	// prepareSocketDirectory() does. Throws std::runtime_error if the
	// directory is refused or the socket cannot be created.
	QueryServer(uv_loop_t &loop, std::string path, Handler handler, QueryLimits limits = QueryLimits::defaults());
	~QueryServer();

	QueryServer(const QueryServer &) = delete;
	QueryServer &operator=(const QueryServer &) = delete;

	// Connections being served, those closing left out.
	std::size_t connections() const noexcept;

	// Makes @connection a watcher (the "watch" operation): the idle
	// deadline no longer applies to it, and broadcast() writes to it.
	// Returns false when the limits refuse it (kMaxWatchersPerUid for its
	// uid, kMaxWatchers in all) or it is not being served.
	bool watch(std::uint64_t connection);
	// Writes @line to every watcher; a watcher that leaves more than
	// QueryLimits::watchBacklog bytes unread is closed.
	void broadcast(const std::string &line);
	// Watchers being served.
	std::size_t watchers() const noexcept;
	// Connections refused by a limit so far (too many, too slow, a watch
	// beyond its cap, a backlog).
	std::uint64_t refused() const noexcept { return refused_; }

	// Told once per connection, with the id its requests' Caller carried.
	Closed onClosed;

private:
	struct Connection {
		std::unique_ptr<uv::Stream> stream;
		// The idle deadline, then the linger deadline once closing.
		std::unique_ptr<uv::Timer> deadline;
		std::optional<uid_t> uid;
		std::uint64_t id = 0; // from 1, never reused in a run
		std::string buffer;
		bool closing = false;  // refused or shutting down: ignore input
		bool closed = false;   // the stream is closed: free it
		bool ended = false;    // onClosed was told
		bool watching = false; // "watch": no idle deadline, gets broadcast()
	};

	void accept(std::unique_ptr<uv::Stream> stream);
	// Whether one more connection from @uid fits the limits.
	bool admits(std::optional<uid_t> uid) const;
	void received(Connection &connection, std::string_view data);
	// Sends an error reply, then closes; cuts the connection if the reply
	// is not flushed within the linger time.
	void refuse(Connection &connection, std::string_view why);
	// Closes at once, discarding what is queued.
	void drop(Connection &connection);
	void closed(Connection &connection);
	// Tells onClosed, once per connection.
	void ended(Connection &connection);

	uv_loop_t &loop_;
	Handler handler_;
	QueryLimits limits_;
	std::list<Connection> connections_;
	std::uint64_t lastId_ = 0;
	std::uint64_t refused_ = 0;
	// Frees closed connections outside their own callbacks.
	uv::Timer reaper_;
	std::unique_ptr<uv::UnixServer> server_;
};

// The daemon's socket path: $DISTCC_MDNS_SOCKET, else ownSocketPath().
std::string defaultSocketPath();

} // namespace dmdns
