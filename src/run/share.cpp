// The build's lease at the local distcc-mdnsd (run/share.h).
#include "run/share.h"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>

#include "client/daemon_socket.h"
#include "common/log.h"
#include "daemon/json_codec.h"
#include "daemon/socket_dir.h"
#include "distcc-mdns/gossip_wire.h"

namespace dmdns::run {

namespace {

// A reply describes at most a few hundred servers; a line longer than this
// is no reply.
constexpr std::size_t kMaxReply = 4u << 20;

} // namespace

Share::Share(std::optional<std::string> socket, HostsRequest base)
	: socket_(std::move(socket)), base_(std::move(base))
{
	base_.reserve = true;
}

Share::~Share()
{
	close();
}

bool Share::open(std::uint32_t want)
{
	const Clock::time_point start = Clock::now();
	base_.want = want;
	if (!connect(start, true))
		return false;
	const Clock::time_point deadline = start + kAnswer;
	// Bounded by the deadline: every pass waits for input or ends it.
	while (connected() && !view_) {
		const Clock::time_point now = Clock::now();
		if (now >= deadline) {
			lose(now, "no answer within 1 s");
			break;
		}
		pollfd p{ fd_.get(), POLLIN, 0 };
		const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count() + 1;
		if (::poll(&p, 1, static_cast<int>(left)) < 0 && errno != EINTR) {
			lose(Clock::now(), std::strerror(errno));
			break;
		}
		if (p.revents)
			onReadable(Clock::now());
	}
	if (!view_ && failure_.empty())
		failure_ = fmt::format("{}: no usable answer", path_);
	return view_.has_value();
}

bool Share::connect(Clock::time_point now, bool first)
{
	std::vector<client::Candidate> candidates;
	if (socket_ && !first) {
		// Mid-build a socket that stopped passing the checks is only not
		// used: the build goes on without the daemon.
		const SocketCheck check = checkSocket(*socket_, geteuid());
		if (check.verdict == SocketCheck::Verdict::Refused)
			candidates.push_back({ *socket_, "not trusted: " + check.why });
		else
			candidates.push_back({ *socket_, std::nullopt });
	} else {
		candidates = client::socketsToTry(socket_);
	}
	std::string tried;
	for (const client::Candidate &c : candidates) {
		std::string what;
		if (c.skipped) {
			what = *c.skipped;
		} else {
			client::Connection connection = client::connectTrusted(c.path, true);
			if (connection.fd.get() >= 0) {
				fd_ = std::move(connection.fd);
				path_ = c.path;
				input_.clear();
				failure_.clear();
				if (!first)
					log(LogLevel::Warning, "the daemon at {} answers again", path_);
				return send(base_.want.value_or(0), now);
			}
			what = connection.failure;
		}
		tried += fmt::format("{}{}: {}", tried.empty() ? "" : "; ", c.path, what);
	}
	failure_ = tried.empty() ? std::string("no socket to try") : tried;
	nextRetry_ = now + kRetry;
	return false;
}

bool Share::send(std::uint32_t want, Clock::time_point now)
{
	HostsRequest request = base_;
	request.want = want;
	base_.want = want;
	request.build = true;
	const std::string line = codec::encode(request).dump() + "\n";
	// A request is a few hundred bytes against a socket buffer of 200 KiB:
	// a short write means the daemon stopped reading.
	const ssize_t n = ::send(fd_.get(), line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n != static_cast<ssize_t>(line.size())) {
		lose(now, n < 0 ? std::string(std::strerror(errno)) : std::string("it stopped reading"));
		return false;
	}
	lastSent_ = now;
	asked_ = now;
	return true;
}

void Share::onReadable(Clock::time_point now)
{
	char buffer[16384];
	// Bounded: each pass reads what is there, at most kMaxReply in all.
	for (;;) {
		const ssize_t n = ::recv(fd_.get(), buffer, sizeof buffer, MSG_DONTWAIT);
		if (n == 0) {
			lose(now, "it closed the connection");
			return;
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == EINTR)
				continue;
			lose(now, std::strerror(errno));
			return;
		}
		input_.append(buffer, static_cast<std::size_t>(n));
		if (input_.size() > kMaxReply && input_.find('\n') == std::string::npos) {
			lose(now, "a reply longer than 4 MiB");
			return;
		}
	}
	for (std::size_t end; (end = input_.find('\n')) != std::string::npos;) {
		const std::string line = input_.substr(0, end);
		input_.erase(0, end + 1);
		if (!take(line, now))
			return;
	}
}

bool Share::take(const std::string &line, Clock::time_point now)
{
	const nlohmann::json object = nlohmann::json::parse(line, nullptr, false);
	if (object.is_discarded() || !object.is_object()) {
		lose(now, "no valid reply");
		return false;
	}
	if (!object.value("ok", false)) {
		const nlohmann::json error = object.value("error", nlohmann::json("unknown error"));
		lose(now, fmt::format("it refused: {}", error.is_string() ? error.get<std::string>() : error.dump()));
		return false;
	}
	try {
		view_ = codec::decodeView(object);
	} catch (const std::invalid_argument &e) {
		lose(now, fmt::format("no usable answer: {}", e.what()));
		return false;
	}
	if (lostAt_)
		log(LogLevel::Info, "the daemon's line is used again");
	lostAt_.reset();
	asked_.reset();
	return true;
}

void Share::tick(std::uint32_t want, Clock::time_point now)
{
	if (connected()) {
		if (asked_) {
			if (now - *asked_ >= kAnswer)
				lose(now, "no answer within 1 s");
			return;
		}
		if (now - lastSent_ >= kRenew || want != base_.want.value_or(0))
			send(want, now);
		return;
	}
	if (now >= nextRetry_) {
		base_.want = want;
		connect(now, false);
	}
}

const View *Share::view(Clock::time_point now) const
{
	if (!view_ || (lostAt_ && now - *lostAt_ > kKeep))
		return nullptr;
	return &*view_;
}

void Share::lose(Clock::time_point now, const std::string &why)
{
	if (connected())
		log(LogLevel::Warning, "lost the daemon at {}: {}; keeping its last line for {} s", path_, why,
		    kKeep.count() / 1000);
	failure_ = fmt::format("{}: {}", path_, why);
	fd_.reset();
	input_.clear();
	asked_.reset();
	if (view_ && !lostAt_)
		lostAt_ = now;
	nextRetry_ = now + kRetry;
}

void Share::close()
{
	fd_.reset();
	asked_.reset();
}

ShareAnswer shareAnswer(const View &view)
{
	ShareAnswer a;
	a.localSlots = view.localSlots;
	a.localSpeed = view.localSpeed;
	std::uint64_t farm = 0;
	for (const ServerView &s : view.servers) {
		if (s.excluded == Exclusion::None && s.limit > 0)
			a.line.push_back({ s.speed, s.limit, s.local });
		if (s.local)
			continue;
		switch (s.excluded) {
		case Exclusion::None:
		case Exclusion::Spare:
		case Exclusion::Full:
		case Exclusion::Overloaded:
			farm += s.slots;
			break;
		default:
			break;
		}
	}
	if (view.localhost != LocalPlace::Absent && view.localSlots > 0)
		a.line.push_back({ view.localSpeed, view.localSlots, true });
	a.farmSlots = static_cast<std::uint32_t>(std::min<std::uint64_t>(farm, wire::kMaxWantedJobs));
	return a;
}

} // namespace dmdns::run
