// The daemon's Unix query socket: one JSON request per line, one JSON reply per line.
#include "query_server.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>

#include "log.h"

namespace dmdns {

namespace {

std::string errorReply(std::string_view message)
{
	nlohmann::json reply = { { "ok", false }, { "error", message } };
	return reply.dump() + "\n";
}

} // namespace

std::string defaultSocketPath()
{
	if (const char *env = std::getenv("DISTCC_MDNS_SOCKET"); env && *env)
		return env;
	if (geteuid() == 0)
		return "/run/distcc-mdns/socket";
	if (const char *runtime = std::getenv("XDG_RUNTIME_DIR"); runtime && *runtime)
		return std::string(runtime) + "/distcc-mdns/socket";
	return "/tmp/distcc-mdns-" + std::to_string(geteuid()) + "/socket";
}

QueryServer::QueryServer(uv_loop_t &loop, std::string path, Handler handler)
	: handler_(std::move(handler)), reaper_(loop, [this] {
		  connections_.remove_if([](const Connection &c) { return c.closed; });
	  })
{
	const std::filesystem::path dir = std::filesystem::path(path).parent_path();
	std::error_code ec;
	std::filesystem::create_directories(dir, ec);
	if (ec)
		throw std::runtime_error("cannot create " + dir.string() + ": " + ec.message());
	// Any local user may query: the directory must be searchable.
	::chmod(dir.c_str(), 0755);
	server_ = std::make_unique<uv::UnixServer>(loop, std::move(path),
						   [this](std::unique_ptr<uv::Stream> s) { accept(std::move(s)); });
}

QueryServer::~QueryServer()
{
	server_.reset();
	connections_.clear();
}

void QueryServer::accept(std::unique_ptr<uv::Stream> stream)
{
	connections_.remove_if([](const Connection &c) { return c.closed; });
	// Past twice the bound not even a refusal is owed: drop the stream.
	if (connections_.size() >= 2 * kMaxConnections)
		return;
	Connection &c = connections_.emplace_back();
	c.stream = std::move(stream);
	c.stream->setOnData([this, &c](std::string_view data) { received(c, data); });
	c.stream->setOnClose([this, &c] { closed(c); });
	if (connections_.size() > kMaxConnections)
		refuse(c, "too many connections");
}

void QueryServer::received(Connection &c, std::string_view data)
{
	if (c.closing)
		return;
	c.buffer.append(data);
	std::size_t start = 0;
	for (auto newline = c.buffer.find('\n'); newline != std::string::npos && newline - start <= kMaxRequest;
	     newline = c.buffer.find('\n', start)) {
		c.stream->write(answerLine(std::string_view(c.buffer).substr(start, newline - start), handler_,
					   Caller{ c.stream->peerUid() }));
		start = newline + 1;
	}
	c.buffer.erase(0, start);
	if (c.buffer.size() > kMaxRequest)
		refuse(c, "request longer than 4096 bytes");
}

void QueryServer::refuse(Connection &c, std::string_view why)
{
	// The connection stays listed until its close callback, so that the
	// reply is written out first.
	c.closing = true;
	c.buffer.clear();
	c.stream->write(errorReply(why));
	c.stream->shutdownAndClose();
}

void QueryServer::closed(Connection &c)
{
	c.closing = true;
	c.closed = true;
	reaper_.start(std::chrono::milliseconds(0));
}

std::string answerLine(std::string_view line, const QueryServer::Handler &handler, const QueryServer::Caller &caller)
{
	if (!line.empty() && line.back() == '\r')
		line.remove_suffix(1);
	const nlohmann::json request = nlohmann::json::parse(line, nullptr, false);
	if (request.is_discarded())
		return errorReply("request is not valid JSON");
	if (!request.is_object())
		return errorReply("request is not a JSON object");
	try {
		nlohmann::json reply = handler(request, caller);
		reply["ok"] = true;
		return reply.dump() + "\n";
	} catch (const std::invalid_argument &e) {
		return errorReply(e.what());
	} catch (const std::exception &e) {
		log(LogLevel::Error, "query failed: {}", e.what());
		return errorReply("internal error");
	}
}

} // namespace dmdns
