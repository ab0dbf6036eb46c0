// The daemon's Unix query socket: one JSON request per line, one JSON reply per line.
#include "daemon/query_server.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>

#include "common/log.h"
#include "daemon/json_codec.h"
#include "daemon/socket_dir.h"

namespace dmdns {

QueryLimits QueryLimits::defaults()
{
	QueryLimits limits;
	limits.privileged = { 0 };
	if (::geteuid() != 0)
		limits.privileged.push_back(::geteuid());
	return limits;
}

std::string defaultSocketPath()
{
	if (const char *env = std::getenv("DISTCC_MDNS_SOCKET"); env && *env)
		return env;
	return ownSocketPath();
}

QueryServer::QueryServer(uv_loop_t &loop, std::string path, Handler handler, QueryLimits limits)
	: loop_(loop), handler_(std::move(handler)), limits_(std::move(limits)), reaper_(loop, [this] {
		  connections_.remove_if([](const Connection &c) { return c.closed; });
	  })
{
	std::string dir = std::filesystem::path(path).parent_path().string();
	prepareSocketDirectory(dir.empty() ? "." : dir);
	server_ = std::make_unique<uv::UnixServer>(loop, std::move(path),
						   [this](std::unique_ptr<uv::Stream> s) { accept(std::move(s)); });
}

QueryServer::~QueryServer()
{
	// Its owner is stopping: what the connections carried ends with it.
	onClosed = nullptr;
	server_.reset();
	connections_.clear();
}

std::size_t QueryServer::connections() const noexcept
{
	return static_cast<std::size_t>(
		std::count_if(connections_.begin(), connections_.end(), [](const Connection &c) { return !c.closing; }));
}

bool QueryServer::admits(std::optional<uid_t> uid) const
{
	const bool privileged =
		uid && std::find(limits_.privileged.begin(), limits_.privileged.end(), *uid) != limits_.privileged.end();
	std::size_t total = 0, mine = 0;
	for (const Connection &c : connections_) {
		if (c.closing)
			continue;
		++total;
		// The kernel always vouches for a Unix peer; an unknown one is
		// counted with the other unknowns, never as privileged.
		if (c.uid == uid)
			++mine;
	}
	if (privileged)
		return total < limits_.total;
	const std::size_t open = limits_.total > limits_.reserved ? limits_.total - limits_.reserved : 0;
	return total < open && mine < limits_.perUid;
}

void QueryServer::accept(std::unique_ptr<uv::Stream> stream)
{
	connections_.remove_if([](const Connection &c) { return c.closed; });
	// Refusals linger at most limits_.linger; past twice the bound not
	// even a refusal is owed: drop the stream.
	if (connections_.size() >= 2 * limits_.total)
		return;
	const std::optional<uid_t> uid = stream->peerUid();
	const bool admitted = admits(uid);
	Connection &c = connections_.emplace_back();
	c.stream = std::move(stream);
	c.uid = uid;
	c.id = ++lastId_;
	c.deadline = std::make_unique<uv::Timer>(loop_, [this, &c] {
		if (c.closing) {
			drop(c);
			return;
		}
		log(LogLevel::Debug, "query socket: closing a connection (uid {}) idle for {} ms", c.uid.value_or(-1),
		    limits_.idle.count());
		refuse(c, fmt::format("no complete request within {} ms", limits_.idle.count()));
	});
	c.stream->setOnData([this, &c](std::string_view data) { received(c, data); });
	c.stream->setOnClose([this, &c] { closed(c); });
	if (!admitted) {
		log(LogLevel::Debug, "query socket: refusing a connection (uid {}): too many connections",
		    c.uid.value_or(-1));
		refuse(c, "too many connections");
		return;
	}
	c.deadline->start(limits_.idle);
}

void QueryServer::received(Connection &c, std::string_view data)
{
	if (c.closing)
		return;
	c.buffer.append(data);
	std::size_t start = 0;
	for (auto newline = c.buffer.find('\n'); newline != std::string::npos && newline - start <= kMaxRequest;
	     newline = c.buffer.find('\n', start)) {
		// Unread replies beyond the one being written: the client asks and
		// does not read, and would hold our memory.
		const bool backlog = c.stream->writeQueueSize() > 0;
		c.stream->write(handler_(std::string_view(c.buffer).substr(start, newline - start), Caller{ c.uid, c.id }));
		start = newline + 1;
		// A complete request restarts the idle clock; a watcher has none
		// (the handler may have made it one).
		if (c.watching)
			c.deadline->stop();
		else
			c.deadline->start(limits_.idle);
		if (backlog && c.stream->writeQueueSize() > (c.watching ? limits_.watchBacklog : limits_.writeQueue)) {
			log(LogLevel::Debug, "query socket: dropping a connection (uid {}) that leaves {} bytes unread",
			    c.uid.value_or(-1), c.stream->writeQueueSize());
			++refused_;
			drop(c);
			return;
		}
	}
	c.buffer.erase(0, start);
	if (c.buffer.size() > kMaxRequest)
		refuse(c, "request longer than 4096 bytes");
}

bool QueryServer::watch(std::uint64_t connection)
{
	const auto it = std::find_if(connections_.begin(), connections_.end(),
				     [&](const Connection &c) { return c.id == connection; });
	if (it == connections_.end() || it->closing) {
		++refused_;
		return false;
	}
	if (it->watching)
		return true;
	std::size_t total = 0, mine = 0;
	for (const Connection &c : connections_)
		if (c.watching && !c.closing) {
			++total;
			// Privileged users too: a watcher costs the same whoever asks.
			if (c.uid == it->uid)
				++mine;
		}
	if (total >= limits_.watchersTotal || mine >= limits_.watchersPerUid) {
		log(LogLevel::Debug, "query socket: refusing a watcher (uid {}): {} of its own, {} in all",
		    it->uid.value_or(-1), mine, total);
		++refused_;
		return false;
	}
	it->watching = true;
	it->deadline->stop();
	return true;
}

void QueryServer::broadcast(const std::string &line)
{
	for (Connection &c : connections_) {
		if (!c.watching || c.closing)
			continue;
		// A view that stopped reading: its objects would pile up in our
		// memory. It can open a new watch when it reads again. Counted
		// before the new object, so that one object larger than the cap
		// (a farm of hundreds of servers with their history) still goes
		// to a reader that keeps up: the bound is the cap plus one object.
		if (c.stream->writeQueueSize() <= limits_.watchBacklog) {
			c.stream->write(line);
		} else {
			log(LogLevel::Debug, "query socket: closing a watcher (uid {}) that leaves {} bytes unread",
			    c.uid.value_or(-1), c.stream->writeQueueSize());
			++refused_;
			drop(c);
		}
	}
}

std::size_t QueryServer::watchers() const noexcept
{
	return static_cast<std::size_t>(std::count_if(connections_.begin(), connections_.end(),
						      [](const Connection &c) { return c.watching && !c.closing; }));
}

void QueryServer::refuse(Connection &c, std::string_view why)
{
	// The connection stays listed until its close callback, so that the
	// reply is written out first; a peer that does not read is cut.
	c.closing = true;
	c.buffer.clear();
	++refused_;
	c.stream->write(codec::errorLine(why));
	c.stream->shutdownAndClose();
	if (!c.closed)
		c.deadline->start(limits_.linger);
	// It serves nothing more: what it carried ends now, not when a peer
	// that does not read lets the refusal go.
	ended(c);
}

void QueryServer::drop(Connection &c)
{
	c.stream->close();
	closed(c);
}

void QueryServer::closed(Connection &c)
{
	c.closing = true;
	c.closed = true;
	c.deadline->stop();
	reaper_.start(std::chrono::milliseconds(0));
	ended(c);
}

void QueryServer::ended(Connection &c)
{
	if (c.ended)
		return;
	c.ended = true;
	// Last: the owner may tell gossip at once, and the connection serves
	// nothing more whatever it does.
	if (onClosed)
		onClosed(c.id, c.uid);
}

} // namespace dmdns
