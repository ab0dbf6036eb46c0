// AvahiPoll over a libuv loop, so avahi-client runs on the daemon's one event loop.
#include "avahi/uv_poll.h"

#include <algorithm>
#include <chrono>
#include <unordered_map>
#include <vector>

#include <avahi-common/timeval.h>
#include <avahi-common/watch.h>

#include "common/log.h"
#include "uv/guarded.h"
#include "uv/handle.h"

namespace dmdns::avahi {

class UvPoll::Impl final
{
public:
	explicit Impl(uv_loop_t &loop);
	~Impl();

	Impl(const Impl &) = delete;
	Impl &operator=(const Impl &) = delete;

	AvahiPoll api{};

private:
	struct Watch {
		Impl &impl;
		int fd;
		AvahiWatchEvent wanted;
		AvahiWatchCallback callback;
		void *userdata;
		// What the latest callback reported, for watch_get_events.
		AvahiWatchEvent last{};
		bool dead = false;
	};

	// The one uv_poll_t of a file descriptor and the watches on it.
	struct Fd {
		std::unique_ptr<uv::Poll> poll;
		std::vector<std::unique_ptr<Watch>> watches;
		// The uv events the poll runs with; 0 while stopped.
		int running = 0;
	};

	struct Timeout {
		Impl &impl;
		AvahiTimeoutCallback callback;
		void *userdata;
		std::unique_ptr<uv::Timer> timer{};
		timeval deadline{};
		bool dead = false;
	};

	// Counts nested callbacks; the outermost one reclaims what was freed.
	class Dispatch final
	{
	public:
		explicit Dispatch(Impl &impl) noexcept
			: impl_(impl) { ++impl_.depth_; }
		~Dispatch()
		{
			if (--impl_.depth_ == 0)
				impl_.reclaim();
		}
		Dispatch(const Dispatch &) = delete;
		Dispatch &operator=(const Dispatch &) = delete;

	private:
		Impl &impl_;
	};

	// The AvahiPoll functions.
	static AvahiWatch *watchNew(const AvahiPoll *api, int fd, AvahiWatchEvent event,
				    AvahiWatchCallback callback, void *userdata) noexcept;
	static void watchUpdate(AvahiWatch *w, AvahiWatchEvent event) noexcept;
	static AvahiWatchEvent watchGetEvents(AvahiWatch *w) noexcept;
	static void watchFree(AvahiWatch *w) noexcept;
	static AvahiTimeout *timeoutNew(const AvahiPoll *api, const struct timeval *tv,
					AvahiTimeoutCallback callback, void *userdata) noexcept;
	static void timeoutUpdate(AvahiTimeout *t, const struct timeval *tv) noexcept;
	static void timeoutFree(AvahiTimeout *t) noexcept;

	static Watch &of(AvahiWatch *w) noexcept { return *reinterpret_cast<Watch *>(w); }
	static Timeout &of(AvahiTimeout *t) noexcept { return *reinterpret_cast<Timeout *>(t); }
	static AvahiWatch *handle(Watch &w) noexcept { return reinterpret_cast<AvahiWatch *>(&w); }
	static AvahiTimeout *handle(Timeout &t) noexcept { return reinterpret_cast<AvahiTimeout *>(&t); }

	Watch &addWatch(int fd, AvahiWatchEvent event, AvahiWatchCallback callback, void *userdata);
	void removeWatch(Watch &w);
	void refresh(Fd &fd);
	void ready(Fd &fd, int status, int events);

	Timeout &addTimeout(const timeval *tv, AvahiTimeoutCallback callback, void *userdata);
	void arm(Timeout &t, const timeval *tv);
	void removeTimeout(Timeout &t);
	void expired(Timeout &t);

	void reclaim() noexcept;

	uv_loop_t &loop_;
	std::unordered_map<int, std::unique_ptr<Fd>> fds_;
	std::unordered_map<Timeout *, std::unique_ptr<Timeout>> timeouts_;
	// Freed while a callback may still hold a pointer to them. Their uv
	// handles are closed already, so nothing of theirs runs again.
	std::vector<std::unique_ptr<Watch>> deadWatches_;
	std::vector<std::unique_ptr<Fd>> deadFds_;
	std::vector<std::unique_ptr<Timeout>> deadTimeouts_;
	int depth_ = 0;
};

namespace {

int toUv(AvahiWatchEvent events) noexcept
{
	int uv = 0;
	if (events & AVAHI_WATCH_IN)
		uv |= UV_READABLE;
	if (events & AVAHI_WATCH_OUT)
		uv |= UV_WRITABLE;
	if (events & AVAHI_WATCH_HUP)
		uv |= UV_DISCONNECT;
	return uv;
}

AvahiWatchEvent toAvahi(int status, int uv) noexcept
{
	int events = 0;
	if (status < 0)
		events |= AVAHI_WATCH_ERR;
	if (uv & UV_READABLE)
		events |= AVAHI_WATCH_IN;
	if (uv & UV_WRITABLE)
		events |= AVAHI_WATCH_OUT;
	if (uv & UV_DISCONNECT)
		events |= AVAHI_WATCH_HUP;
	return static_cast<AvahiWatchEvent>(events);
}

// Until the absolute wall-clock @deadline, rounded up: libuv counts whole
// milliseconds.
std::chrono::milliseconds delayUntil(const timeval &deadline) noexcept
{
	// avahi_age() is how long ago @deadline was: negative while ahead.
	const AvahiUsec ahead = -avahi_age(&deadline);
	if (ahead <= 0)
		return {};
	return std::chrono::milliseconds((ahead + 999) / 1000);
}

} // namespace

UvPoll::Impl::Impl(uv_loop_t &loop)
	: loop_(loop)
{
	api.userdata = this;
	api.watch_new = &Impl::watchNew;
	api.watch_update = &Impl::watchUpdate;
	api.watch_get_events = &Impl::watchGetEvents;
	api.watch_free = &Impl::watchFree;
	api.timeout_new = &Impl::timeoutNew;
	api.timeout_update = &Impl::timeoutUpdate;
	api.timeout_free = &Impl::timeoutFree;
}

UvPoll::Impl::~Impl()
{
	std::size_t watches = 0;
	for (auto &[fd, entry] : fds_)
		watches += entry->watches.size();
	if (watches || !timeouts_.empty())
		log(LogLevel::Warning, "AvahiPoll destroyed with {} watches and {} timeouts still allocated",
		    watches, timeouts_.size());
	// The members' destructors close the uv handles.
}

// ---- watches

AvahiWatch *UvPoll::Impl::watchNew(const AvahiPoll *api, int fd, AvahiWatchEvent event,
				   AvahiWatchCallback callback, void *userdata) noexcept
{
	Impl &self = *static_cast<Impl *>(api->userdata);
	return guarded("AvahiPoll watch_new", [&] { return handle(self.addWatch(fd, event, callback, userdata)); })
		.value_or(nullptr);
}

void UvPoll::Impl::watchUpdate(AvahiWatch *w, AvahiWatchEvent event) noexcept
{
	Watch &watch = of(w);
	if (watch.dead)
		return;
	guarded("AvahiPoll watch_update", [&] {
		watch.wanted = event;
		watch.impl.refresh(*watch.impl.fds_.at(watch.fd));
	});
}

AvahiWatchEvent UvPoll::Impl::watchGetEvents(AvahiWatch *w) noexcept
{
	return of(w).last;
}

void UvPoll::Impl::watchFree(AvahiWatch *w) noexcept
{
	Watch &watch = of(w);
	if (watch.dead)
		return;
	guarded("AvahiPoll watch_free", [&] { watch.impl.removeWatch(watch); });
}

UvPoll::Impl::Watch &UvPoll::Impl::addWatch(int fd, AvahiWatchEvent event, AvahiWatchCallback callback,
					    void *userdata)
{
	auto owned = std::make_unique<Watch>(Watch{ *this, fd, event, callback, userdata });
	Watch &watch = *owned;
	auto it = fds_.find(fd);
	if (it == fds_.end()) {
		auto entry = std::make_unique<Fd>();
		Fd *raw = entry.get();
		entry->poll = std::make_unique<uv::Poll>(loop_, fd, [this, raw](int status, int events) {
			ready(*raw, status, events);
		});
		it = fds_.emplace(fd, std::move(entry)).first;
	}
	try {
		it->second->watches.push_back(std::move(owned));
	} catch (...) {
		// A new entry would otherwise keep an idle uv_poll_t on the fd.
		if (it->second->watches.empty()) {
			it->second->poll->close();
			fds_.erase(it);
		}
		throw;
	}
	try {
		refresh(*it->second);
	} catch (...) {
		removeWatch(watch);
		throw;
	}
	return watch;
}

void UvPoll::Impl::removeWatch(Watch &w)
{
	const auto it = fds_.find(w.fd);
	if (it == fds_.end())
		return;
	Fd &fd = *it->second;
	const auto pos = std::find_if(fd.watches.begin(), fd.watches.end(),
				      [&](const std::unique_ptr<Watch> &p) { return p.get() == &w; });
	if (pos == fd.watches.end())
		return;
	// Reserve first: nothing below may throw halfway.
	deadWatches_.reserve(deadWatches_.size() + 1);
	deadFds_.reserve(deadFds_.size() + 1);
	w.dead = true;
	deadWatches_.push_back(std::move(*pos));
	fd.watches.erase(pos);
	if (fd.watches.empty()) {
		// The caller may close the fd and open another with the same
		// number at once: the uv_poll_t must let go of it now.
		fd.poll->close();
		deadFds_.push_back(std::move(it->second));
		fds_.erase(it);
	} else {
		refresh(fd);
	}
	if (depth_ == 0)
		reclaim();
}

void UvPoll::Impl::refresh(Fd &fd)
{
	int want = 0;
	for (const auto &w : fd.watches)
		want |= toUv(w->wanted);
	if (want == fd.running)
		return;
	if (want == 0)
		fd.poll->stop();
	else
		fd.poll->start(want);
	fd.running = want;
}

void UvPoll::Impl::ready(Fd &fd, int status, int events)
{
	const Dispatch dispatch(*this);
	// On error libuv has stopped the poll; the next update restarts it.
	if (status < 0)
		fd.running = 0;
	const AvahiWatchEvent happened = toAvahi(status, events);
	// Callbacks may add and free watches: tell those present now, unless
	// freed meanwhile (freed ones stay allocated until reclaim()).
	std::vector<Watch *> present;
	present.reserve(fd.watches.size());
	for (const auto &w : fd.watches)
		present.push_back(w.get());
	for (Watch *w : present) {
		if (w->dead || !w->wanted)
			continue;
		// Like poll(2): errors and hang-ups are reported unasked.
		const auto mine = static_cast<AvahiWatchEvent>(
			happened & (w->wanted | AVAHI_WATCH_ERR | AVAHI_WATCH_HUP));
		if (!mine)
			continue;
		w->last = mine;
		w->callback(handle(*w), w->fd, mine, w->userdata);
	}
	// ~Dispatch may delete @fd and the lambda running this: return at once.
}

// ---- timeouts

AvahiTimeout *UvPoll::Impl::timeoutNew(const AvahiPoll *api, const struct timeval *tv,
				       AvahiTimeoutCallback callback, void *userdata) noexcept
{
	Impl &self = *static_cast<Impl *>(api->userdata);
	return guarded("AvahiPoll timeout_new", [&] { return handle(self.addTimeout(tv, callback, userdata)); })
		.value_or(nullptr);
}

void UvPoll::Impl::timeoutUpdate(AvahiTimeout *t, const struct timeval *tv) noexcept
{
	Timeout &timeout = of(t);
	if (timeout.dead)
		return;
	guarded("AvahiPoll timeout_update", [&] { timeout.impl.arm(timeout, tv); });
}

void UvPoll::Impl::timeoutFree(AvahiTimeout *t) noexcept
{
	Timeout &timeout = of(t);
	if (timeout.dead)
		return;
	guarded("AvahiPoll timeout_free", [&] { timeout.impl.removeTimeout(timeout); });
}

UvPoll::Impl::Timeout &UvPoll::Impl::addTimeout(const timeval *tv, AvahiTimeoutCallback callback, void *userdata)
{
	auto owned = std::make_unique<Timeout>(Timeout{ *this, callback, userdata });
	Timeout &t = *owned;
	t.timer = std::make_unique<uv::Timer>(loop_, [this, &t] { expired(t); });
	arm(t, tv);
	timeouts_.emplace(&t, std::move(owned));
	return t;
}

void UvPoll::Impl::arm(Timeout &t, const timeval *tv)
{
	if (!tv) {
		t.timer->stop();
		return;
	}
	t.deadline = *tv;
	// libuv measures from the time cached at the start of this iteration,
	// which may lag; measure from now.
	uv_update_time(&loop_);
	t.timer->start(delayUntil(t.deadline));
}

void UvPoll::Impl::removeTimeout(Timeout &t)
{
	const auto it = timeouts_.find(&t);
	if (it == timeouts_.end())
		return;
	deadTimeouts_.reserve(deadTimeouts_.size() + 1);
	t.dead = true;
	t.timer->close();
	deadTimeouts_.push_back(std::move(it->second));
	timeouts_.erase(it);
	if (depth_ == 0)
		reclaim();
}

void UvPoll::Impl::expired(Timeout &t)
{
	if (t.dead)
		return;
	// The monotonic millisecond clock may run a little ahead of the wall
	// clock Avahi's deadline is on: never call back early.
	if (avahi_age(&t.deadline) < 0) {
		uv_update_time(&loop_);
		t.timer->start(std::max(delayUntil(t.deadline), std::chrono::milliseconds(1)));
		return;
	}
	const Dispatch dispatch(*this);
	t.callback(handle(t), t.userdata);
	// ~Dispatch may delete @t and the lambda running this: return at once.
}

void UvPoll::Impl::reclaim() noexcept
{
	deadWatches_.clear();
	deadFds_.clear();
	deadTimeouts_.clear();
}

// ---- UvPoll

UvPoll::UvPoll(uv_loop_t &loop)
	: impl_(std::make_unique<Impl>(loop)) { }

UvPoll::~UvPoll() = default;

const AvahiPoll *UvPoll::get() const noexcept
{
	return &impl_->api;
}

} // namespace dmdns::avahi
