// Connect probes to stock-only distccd servers, which no gossip declares dead, so that a vanished one leaves the lines.
#include "daemon/stock_probe.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <utility>

#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include "common/log.h"
#include "uv/handle.h"
#include "uv/udp.h"

namespace dmdns {

namespace {

std::optional<ProbeTarget> targetOf(const DirectoryEntry &entry)
{
	const std::optional<Address> address = entry.server.preferredAddress();
	if (!address || entry.server.port == 0)
		return std::nullopt;
	return ProbeTarget{ *address, entry.server.port };
}

// The targets of the entries @heard says gossip hears: never probed, never
// marked.
std::set<ProbeTarget> heardTargets(const std::vector<DirectoryEntry> &entries,
				   const std::function<bool(const DirectoryEntry &)> &heard)
{
	std::set<ProbeTarget> out;
	for (const DirectoryEntry &e : entries)
		if (!e.stock && heard && heard(e))
			if (auto t = targetOf(e))
				out.insert(std::move(*t));
	return out;
}

// One connect: the socket is ours until the attempt ends, the Poll or the
// Timer only tells when to look at it.
class TcpAttempt final : public Connector::Attempt
{
public:
	TcpAttempt(uv_loop_t &loop, int fd, int immediate, Connector::Done done)
		: fd_(fd), done_(std::move(done))
	{
		if (immediate == EINPROGRESS) {
			poll_ = std::make_unique<uv::Poll>(loop, fd_, [this](int status, int) { ready(status); });
			poll_->start(UV_WRITABLE);
		} else {
			// Done (or failed) at once: told from the loop all the same,
			// never from inside connect().
			timer_ = std::make_unique<uv::Timer>(loop, [this, immediate] { end(immediate); });
			timer_->start(std::chrono::milliseconds(0));
		}
	}

	~TcpAttempt() override { release(); }

	TcpAttempt(const TcpAttempt &) = delete;
	TcpAttempt &operator=(const TcpAttempt &) = delete;

private:
	void ready(int status)
	{
		// libuv turns POLLERR into UV_EBADF: the socket's own error says
		// why the connect failed (ECONNREFUSED, EHOSTUNREACH).
		int error = 0;
		socklen_t size = sizeof(error);
		if (::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &size) != 0)
			error = errno;
		if (error == 0 && status < 0)
			error = -status;
		end(error);
	}

	// Closes the socket (no byte was sent: distccd reads an empty request
	// and drops it), then tells; @done may destroy this attempt, so it
	// runs last, from a copy.
	void end(int error)
	{
		release();
		const Connector::Done done = std::move(done_);
		if (done)
			done(error);
	}

	void release() noexcept
	{
		// The Poll goes before its fd: libuv must stop watching it first.
		poll_.reset();
		timer_.reset();
		if (fd_ >= 0)
			::close(fd_);
		fd_ = -1;
	}

	int fd_;
	Connector::Done done_;
	std::unique_ptr<uv::Poll> poll_;
	std::unique_ptr<uv::Timer> timer_;
};

} // namespace

std::string describe(const ProbeTarget &target)
{
	if (target.address.family == Address::Family::IPv4)
		return fmt::format("{}:{}", target.address.text, target.port);
	if (target.address.scope != 0)
		return fmt::format("[{}%{}]:{}", target.address.text, target.address.scope, target.port);
	return fmt::format("[{}]:{}", target.address.text, target.port);
}

std::unique_ptr<Connector::Attempt> TcpConnector::connect(const ProbeTarget &target, Done done)
{
	const std::string text = target.address.scope != 0
					 ? fmt::format("{}%{}", target.address.text, target.address.scope)
					 : target.address.text;
	const std::optional<sockaddr_storage> to = uv::resolveNumeric(text, target.port);
	if (!to)
		return nullptr;
	const int fd = ::socket(to->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log(LogLevel::Warning, "stock probe of {}: socket: {}", describe(target), std::strerror(errno));
		return nullptr;
	}
	const socklen_t size = to->ss_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
	const int rc = ::connect(fd, reinterpret_cast<const sockaddr *>(&*to), size);
	const int immediate = rc == 0 ? 0 : errno;
	try {
		return std::make_unique<TcpAttempt>(loop_, fd, immediate, std::move(done));
	} catch (const std::exception &e) {
		// TcpAttempt's constructor threw: its destructor never runs.
		::close(fd);
		log(LogLevel::Warning, "stock probe of {}: {}", describe(target), e.what());
		return nullptr;
	}
}

std::vector<ProbeTarget> stockOnly(const std::vector<DirectoryEntry> &entries,
				   const std::function<bool(const DirectoryEntry &)> &heard)
{
	const std::set<ProbeTarget> skip = heardTargets(entries, heard);
	std::set<ProbeTarget> seen;
	std::vector<ProbeTarget> out;
	for (const DirectoryEntry &e : entries) {
		if (!e.stock)
			continue;
		std::optional<ProbeTarget> t = targetOf(e);
		if (t && !skip.contains(*t) && seen.insert(*t).second)
			out.push_back(std::move(*t));
	}
	return out;
}

StockProbe::StockProbe(uv::Clock &clock, Connector &connector, Targets targets, StockProbeConfig config)
	: clock_(clock), connector_(connector), targets_(std::move(targets)), config_(config),
	  alarm_(clock_.alarm([this] { tick(); }))
{
	alarm_->start(std::chrono::milliseconds(0), config_.tick);
}

bool StockProbe::down(const ProbeTarget &target) const
{
	const auto it = table_.find(target);
	return it != table_.end() && it->second.down;
}

void StockProbe::announced(const ProbeTarget &target)
{
	const auto it = table_.find(target);
	if (it == table_.end() || !it->second.down)
		return;
	setDown(target, it->second, false, "mDNS announced it again");
	// Seen again: look soon whether it really answers.
	it->second.due = std::min(it->second.due, clock_.now());
}

std::size_t StockProbe::markDown(std::vector<DirectoryEntry> &entries,
				 const std::function<bool(const DirectoryEntry &)> &heard) const
{
	if (std::none_of(table_.begin(), table_.end(), [](const auto &kv) { return kv.second.down; }))
		return 0;
	const std::set<ProbeTarget> alive = heardTargets(entries, heard);
	std::size_t marked = 0;
	for (DirectoryEntry &e : entries) {
		if (!e.stock)
			continue;
		const std::optional<ProbeTarget> t = targetOf(e);
		if (!t || alive.contains(*t) || !down(*t))
			continue;
		e.server.state = ServerState::Down;
		++marked;
	}
	return marked;
}

std::size_t StockProbe::inFlight() const noexcept
{
	return static_cast<std::size_t>(
		std::count_if(table_.begin(), table_.end(), [](const auto &kv) { return kv.second.attempt != nullptr; }));
}

void StockProbe::refresh()
{
	const SteadyTime now = clock_.now();
	refreshed_ = now;
	std::vector<ProbeTarget> wanted = targets_ ? targets_() : std::vector<ProbeTarget>{};
	// A table filled by a hostile host keeps its first servers: the ones
	// followed already stay, newcomers take what room is left.
	std::set<ProbeTarget> keep;
	std::vector<ProbeTarget> newcomers;
	for (ProbeTarget &t : wanted) {
		if (table_.contains(t))
			keep.insert(std::move(t));
		else
			newcomers.push_back(std::move(t));
	}
	// Erasing an entry abandons its connect: no callback comes.
	std::erase_if(table_, [&](const auto &kv) { return !keep.contains(kv.first); });
	stats_.untracked = 0;
	for (ProbeTarget &t : newcomers) {
		if (table_.size() >= config_.maxTargets) {
			++stats_.untracked;
			continue;
		}
		table_.emplace(std::move(t), Entry{ now, false, nullptr, {} });
	}
}

void StockProbe::tick()
{
	const SteadyTime now = clock_.now();
	if (refreshed_ == SteadyTime{} || now - refreshed_ >= config_.interval)
		refresh();
	for (auto &[target, entry] : table_) {
		if (entry.attempt && now >= entry.deadline) {
			entry.attempt.reset();
			++stats_.timedOut;
			setDown(target, entry, true, "no answer in time");
		}
	}
	while (!starts_.empty() && now - starts_.front() >= std::chrono::seconds(1))
		starts_.pop_front();
	// The longest waiting first, so that every server gets its turn when
	// there are more than the rate allows.
	std::vector<std::pair<SteadyTime, const ProbeTarget *>> due;
	for (const auto &[target, entry] : table_)
		if (!entry.attempt && entry.due <= now)
			due.emplace_back(entry.due, &target);
	std::sort(due.begin(), due.end());
	std::size_t running = inFlight();
	for (const auto &[at, target] : due) {
		if (starts_.size() >= config_.perSecond || running >= config_.inFlight)
			break;
		start(*target, table_.at(*target), now);
		++running;
	}
	// With no stock server an idle daemon wakes once an interval, to ask
	// again, not ten times a second.
	const bool idle = table_.empty();
	if (idle != idle_) {
		idle_ = idle;
		const auto period = idle ? config_.interval : config_.tick;
		alarm_->start(period, period);
	}
}

void StockProbe::start(const ProbeTarget &target, Entry &entry, SteadyTime now)
{
	starts_.push_back(now);
	entry.due = now + config_.interval;
	entry.deadline = now + config_.timeout;
	++stats_.started;
	// The target is copied: the table entry may be gone when it answers.
	entry.attempt = connector_.connect(target, [this, target](int error) { finished(target, error); });
	if (!entry.attempt)
		++stats_.notStarted;
}

void StockProbe::finished(const ProbeTarget &target, int error)
{
	const auto it = table_.find(target);
	if (it == table_.end())
		return;
	// Ends here, from inside its own callback: kept until this returns.
	const std::unique_ptr<Connector::Attempt> attempt = std::move(it->second.attempt);
	if (error == 0) {
		++stats_.connected;
		setDown(target, it->second, false, "it answers again");
	} else {
		++stats_.failed;
		setDown(target, it->second, true, std::strerror(error));
	}
}

void StockProbe::setDown(const ProbeTarget &target, Entry &entry, bool down, std::string_view why)
{
	if (entry.down == down)
		return;
	entry.down = down;
	if (down)
		log(LogLevel::Info, "stock server {} is unreachable ({}): left out until it answers",
		    describe(target), why);
	else
		log(LogLevel::Info, "stock server {} listed again: {}", describe(target), why);
}

} // namespace dmdns
