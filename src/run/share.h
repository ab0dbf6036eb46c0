// The build's lease at the local distcc-mdnsd: one query connection kept open all build, renewed every 500 ms.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "daemon/request.h"
#include "daemon/view.h"
#include "distcc-mdns/token_policy.h"
#include "host/files.h"

namespace dmdns::run {

// While the connection is open the daemon counts this build's want as the
// machine's demand (gossiped before the first job); closing it, for any
// reason, withdraws the demand at once (docs/query-socket.md, "build").
// Non-blocking after open(): the main loop polls fd() and calls tick().
class Share final
{
public:
	using Clock = std::chrono::steady_clock;

	// How often the lease is renewed; the daemon drops a connection idle
	// for 5 s.
	static constexpr std::chrono::milliseconds kRenew{ 500 };
	// A daemon that does not answer within this is treated as gone.
	static constexpr std::chrono::milliseconds kAnswer{ 1000 };
	// Between attempts to reach a daemon that is gone.
	static constexpr std::chrono::milliseconds kRetry{ 3000 };
	// How long the last answer stands after the daemon is lost.
	static constexpr std::chrono::milliseconds kKeep{ 10000 };

	// @socket: --socket or $DISTCC_MDNS_SOCKET (then only that one is
	// asked), else the documented search order. @base: the fields every
	// request carries (local slots, compiler, ...).
	Share(std::optional<std::string> socket, HostsRequest base);
	~Share();
	Share(const Share &) = delete;
	Share &operator=(const Share &) = delete;

	// Connects and asks for @want, waiting up to kAnswer per daemon tried:
	// whether one answered. An explicit socket whose owner is not trusted
	// ends the program (as distcc-mdns-hosts).
	bool open(std::uint32_t want);
	// What the places tried said when none answered ("PATH: WHAT; ...").
	const std::string &failure() const noexcept { return failure_; }

	// The fd to poll for input, -1 without a connection.
	int fd() const noexcept { return fd_.get(); }
	// Reads what arrived on fd(); a closed or garbled connection is lost.
	void onReadable(Clock::time_point now);
	// Renews with @want when due, notices a silent daemon, reconnects
	// every kRetry once it is gone.
	void tick(std::uint32_t want, Clock::time_point now);
	// The newest answer, kept kKeep after the daemon is lost; nullopt
	// before any answer and once that time has passed.
	const View *view(Clock::time_point now) const;
	bool connected() const noexcept { return fd_.get() >= 0; }
	// Closes the connection: the daemon withdraws the build's demand.
	void close();

private:
	bool connect(Clock::time_point now, bool first);
	bool send(std::uint32_t want, Clock::time_point now);
	void lose(Clock::time_point now, const std::string &why);
	bool take(const std::string &line, Clock::time_point now);

	std::optional<std::string> socket_;
	HostsRequest base_;
	host::UniqueFd fd_;
	std::string path_; // the daemon connected to
	std::string input_;
	std::string failure_;
	std::optional<View> view_;
	std::optional<Clock::time_point> lostAt_; // the daemon went away with view_ set
	std::optional<Clock::time_point> asked_;  // a request waits for its answer
	Clock::time_point lastSent_{};
	Clock::time_point nextRetry_{};
};

// What the policy needs of a view: the listed entries in line order, the
// local slots, and the farm's remote slots that could take this build's
// jobs (listed, spare, or taken by others).
ShareAnswer shareAnswer(const View &view);

} // namespace dmdns::run
