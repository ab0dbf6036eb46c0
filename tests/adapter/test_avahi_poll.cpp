// AvahiPoll over libuv: shared fd polls, watch and timeout life cycles, absolute deadlines.
#include <doctest/doctest.h>

#include <functional>

#include <fcntl.h>
#include <sys/time.h>
#include <unistd.h>

#include <avahi-common/timeval.h>
#include <avahi-common/watch.h>

#include "adapter/support.h"
#include "avahi/uv_poll.h"

using namespace std::chrono_literals;
namespace uv = dmdns::uv;
using dmdns::avahi::UvPoll;
using dmdns::test::Pair;
using dmdns::test::runFor;
using dmdns::test::runUntilStopped;
using dmdns::test::writeAll;

namespace {

using WatchFn = std::function<void(AvahiWatch *, int, AvahiWatchEvent)>;
using TimeoutFn = std::function<void(AvahiTimeout *)>;

void callWatch(AvahiWatch *w, int fd, AvahiWatchEvent events, void *fn)
{
	(*static_cast<WatchFn *>(fn))(w, fd, events);
}

void callTimeout(AvahiTimeout *t, void *fn)
{
	(*static_cast<TimeoutFn *>(fn))(t);
}

// uv_poll_t handles open on @loop.
int polls(uv::Loop &loop)
{
	int count = 0;
	uv_walk(
		&loop.get(),
		[](uv_handle_t *h, void *n) {
			if (h->type == UV_POLL && !uv_is_closing(h))
				++*static_cast<int *>(n);
		},
		&count);
	return count;
}

timeval fromNow(std::chrono::milliseconds offset)
{
	timeval tv{};
	gettimeofday(&tv, nullptr);
	const auto us = static_cast<long long>(tv.tv_sec) * 1000000 + tv.tv_usec +
			std::chrono::duration_cast<std::chrono::microseconds>(offset).count();
	tv.tv_sec = static_cast<time_t>(us / 1000000);
	tv.tv_usec = static_cast<suseconds_t>(us % 1000000);
	return tv;
}

std::chrono::nanoseconds since(std::uint64_t start)
{
	return std::chrono::nanoseconds(uv_hrtime() - start);
}

// A loop and an AvahiPoll on it, destroyed in the right order.
struct Fixture {
	uv::Loop loop;
	UvPoll poll{ loop.get() };
	const AvahiPoll *api = poll.get();
};

} // namespace

TEST_SUITE("uv_avahi_poll")
{
	TEST_CASE("a read watch on a pipe fires when written, not before")
	{
		Fixture f;
		Pair pipe;
		bool written = false;
		int fired = 0;
		WatchFn onRead = [&](AvahiWatch *w, int fd, AvahiWatchEvent events) {
			++fired;
			CHECK(written);
			CHECK(fd == pipe.a.get());
			CHECK(events == AVAHI_WATCH_IN);
			CHECK(f.api->watch_get_events(w) == AVAHI_WATCH_IN);
			char c = 0;
			CHECK(::read(fd, &c, 1) == 1);
			f.loop.stop();
		};
		AvahiWatch *w = f.api->watch_new(f.api, pipe.a.get(), AVAHI_WATCH_IN, callWatch, &onRead);
		REQUIRE(w);
		uv::Timer writer(f.loop.get(), [&] {
			written = true;
			writeAll(pipe.b.get(), "x");
		});
		writer.start(20ms);
		CHECK(runUntilStopped(f.loop));
		CHECK(fired == 1);
		CHECK(f.api->watch_get_events(w) == AVAHI_WATCH_IN);
		f.api->watch_free(w);
		CHECK(polls(f.loop) == 0);
	}

	TEST_CASE("a read and a write watch on one fd share one uv_poll_t")
	{
		Fixture f;
		Pair sock(true);
		int writable = 0;
		int peerReads = 0;
		int replies = 0;
		// Writes "ping" once, then disables itself.
		WatchFn onWritable = [&](AvahiWatch *w, int fd, AvahiWatchEvent events) {
			++writable;
			CHECK(events == AVAHI_WATCH_OUT);
			writeAll(fd, "ping");
			f.api->watch_update(w, static_cast<AvahiWatchEvent>(0));
		};
		// The peer answers "pong" and frees its own watch.
		WatchFn onPeer = [&](AvahiWatch *w, int fd, AvahiWatchEvent events) {
			++peerReads;
			CHECK(events == AVAHI_WATCH_IN);
			char buf[4];
			CHECK(::read(fd, buf, 4) == 4);
			CHECK(std::string_view(buf, 4) == "ping");
			writeAll(fd, "pong");
			f.api->watch_free(w);
		};
		WatchFn onReadable = [&](AvahiWatch *, int fd, AvahiWatchEvent events) {
			++replies;
			CHECK(events == AVAHI_WATCH_IN);
			char buf[4];
			CHECK(::read(fd, buf, 4) == 4);
			CHECK(std::string_view(buf, 4) == "pong");
			f.loop.stop();
		};
		AvahiWatch *out = f.api->watch_new(f.api, sock.a.get(), AVAHI_WATCH_OUT, callWatch, &onWritable);
		AvahiWatch *in = f.api->watch_new(f.api, sock.a.get(), AVAHI_WATCH_IN, callWatch, &onReadable);
		AvahiWatch *peer = f.api->watch_new(f.api, sock.b.get(), AVAHI_WATCH_IN, callWatch, &onPeer);
		REQUIRE(out);
		REQUIRE(in);
		REQUIRE(peer);
		CHECK(polls(f.loop) == 2);
		CHECK(runUntilStopped(f.loop));
		CHECK(writable == 1);
		CHECK(peerReads == 1);
		CHECK(replies == 1);
		// The peer's watch was the last on its fd: its poll is gone.
		CHECK(polls(f.loop) == 1);
		f.api->watch_free(out);
		CHECK(polls(f.loop) == 1);
		f.api->watch_free(in);
		CHECK(polls(f.loop) == 0);
	}

	TEST_CASE("watch_update inside the callback changes the events")
	{
		Fixture f;
		Pair sock(true);
		int calls = 0;
		bool sent = false;
		WatchFn onEvent = [&](AvahiWatch *w, int fd, AvahiWatchEvent events) {
			++calls;
			if (calls == 1) {
				CHECK(events == AVAHI_WATCH_OUT);
				// Nothing to read yet: no callback until the peer writes.
				f.api->watch_update(w, AVAHI_WATCH_IN);
				return;
			}
			CHECK(sent);
			CHECK(events == AVAHI_WATCH_IN);
			char c;
			CHECK(::read(fd, &c, 1) == 1);
			f.loop.stop();
		};
		AvahiWatch *w = f.api->watch_new(f.api, sock.a.get(), AVAHI_WATCH_OUT, callWatch, &onEvent);
		REQUIRE(w);
		uv::Timer peer(f.loop.get(), [&] {
			sent = true;
			writeAll(sock.b.get(), "x");
		});
		peer.start(30ms);
		CHECK(runUntilStopped(f.loop));
		CHECK(calls == 2);
		f.api->watch_free(w);
	}

	TEST_CASE("watch_free inside its callback frees a sibling too, and the fd number can be watched again at once")
	{
		Fixture f;
		auto pipe = std::make_unique<Pair>();
		const int number = pipe->a.get();
		writeAll(pipe->b.get(), "x");
		AvahiWatch *first = nullptr;
		AvahiWatch *second = nullptr;
		AvahiWatch *again = nullptr;
		int fired = 0;
		int fresh = 0;
		Pair replacement;
		WatchFn onFresh = [&](AvahiWatch *w, int fd, AvahiWatchEvent events) {
			++fresh;
			CHECK(fd == number);
			CHECK(events == AVAHI_WATCH_IN);
			f.api->watch_free(w);
			f.loop.stop();
		};
		WatchFn onEvent = [&](AvahiWatch *, int, AvahiWatchEvent) {
			++fired;
			f.api->watch_free(first);
			f.api->watch_free(second);
			// Close the fd and reuse its number right away, as libdbus may.
			pipe.reset();
			REQUIRE(::dup3(replacement.a.get(), number, O_CLOEXEC) == number);
			writeAll(replacement.b.get(), "y");
			again = f.api->watch_new(f.api, number, AVAHI_WATCH_IN, callWatch, &onFresh);
			CHECK(again);
		};
		first = f.api->watch_new(f.api, number, AVAHI_WATCH_IN, callWatch, &onEvent);
		second = f.api->watch_new(f.api, number, AVAHI_WATCH_IN, callWatch, &onEvent);
		REQUIRE(first);
		REQUIRE(second);
		CHECK(polls(f.loop) == 1);
		CHECK(runUntilStopped(f.loop));
		CHECK(fired == 1);
		CHECK(fresh == 1);
		CHECK(polls(f.loop) == 0);
		::close(number);
	}

	TEST_CASE("a watch freed by another fd's callback in the same iteration does not fire")
	{
		Fixture f;
		Pair one;
		Pair two;
		writeAll(one.b.get(), "x");
		writeAll(two.b.get(), "x");
		AvahiWatch *a = nullptr;
		AvahiWatch *b = nullptr;
		int fired = 0;
		WatchFn onEvent = [&](AvahiWatch *, int, AvahiWatchEvent) {
			++fired;
			f.api->watch_free(a);
			f.api->watch_free(b);
			// The loop finishes this iteration's events before it stops.
			f.loop.stop();
		};
		a = f.api->watch_new(f.api, one.a.get(), AVAHI_WATCH_IN, callWatch, &onEvent);
		b = f.api->watch_new(f.api, two.a.get(), AVAHI_WATCH_IN, callWatch, &onEvent);
		REQUIRE(a);
		REQUIRE(b);
		CHECK(runUntilStopped(f.loop));
		CHECK(fired == 1);
	}

	TEST_CASE("a watch on an fd libuv already polls fails cleanly")
	{
		Fixture f;
		Pair pipe;
		uv::Poll other(f.loop.get(), pipe.a.get(), [](int, int) {});
		// libuv claims the fd once the poll runs.
		other.start(UV_READABLE);
		WatchFn never = [](AvahiWatch *, int, AvahiWatchEvent) { FAIL("called"); };
		CHECK(f.api->watch_new(f.api, pipe.a.get(), AVAHI_WATCH_IN, callWatch, &never) == nullptr);
	}

	TEST_CASE("a timeout at a future absolute time fires once, not before its deadline")
	{
		Fixture f;
		const std::uint64_t start = uv_hrtime();
		timeval deadline{};
		avahi_elapse_time(&deadline, 60, 0);
		int fired = 0;
		TimeoutFn onTimeout = [&](AvahiTimeout *) {
			++fired;
			// Avahi's clock is the wall clock; the loop's is monotonic.
			CHECK(avahi_age(&deadline) >= 0);
			CHECK(since(start) >= 59ms);
		};
		AvahiTimeout *t = f.api->timeout_new(f.api, &deadline, callTimeout, &onTimeout);
		REQUIRE(t);
		runFor(f.loop, 250ms);
		CHECK(fired == 1);
		f.api->timeout_free(t);
	}

	TEST_CASE("a past deadline fires promptly")
	{
		Fixture f;
		const std::uint64_t start = uv_hrtime();
		const timeval deadline = fromNow(-1s);
		int fired = 0;
		TimeoutFn onTimeout = [&](AvahiTimeout *) {
			++fired;
			f.loop.stop();
		};
		AvahiTimeout *t = f.api->timeout_new(f.api, &deadline, callTimeout, &onTimeout);
		REQUIRE(t);
		CHECK(runUntilStopped(f.loop));
		CHECK(fired == 1);
		CHECK(since(start) < 500ms);
		f.api->timeout_free(t);
	}

	TEST_CASE("a NULL time disables a timeout")
	{
		Fixture f;
		int disabled = 0;
		int control = 0;
		TimeoutFn onDisabled = [&](AvahiTimeout *) { ++disabled; };
		TimeoutFn onControl = [&](AvahiTimeout *) { ++control; };
		const timeval soon = fromNow(20ms);
		AvahiTimeout *never = f.api->timeout_new(f.api, nullptr, callTimeout, &onDisabled);
		AvahiTimeout *stopped = f.api->timeout_new(f.api, &soon, callTimeout, &onDisabled);
		AvahiTimeout *fires = f.api->timeout_new(f.api, &soon, callTimeout, &onControl);
		REQUIRE(never);
		REQUIRE(stopped);
		REQUIRE(fires);
		f.api->timeout_update(stopped, nullptr);
		runFor(f.loop, 120ms);
		CHECK(disabled == 0);
		CHECK(control == 1);
		f.api->timeout_free(never);
		f.api->timeout_free(stopped);
		f.api->timeout_free(fires);
	}

	TEST_CASE("timeout_update and timeout_free inside the callback")
	{
		Fixture f;
		AvahiTimeout *t = nullptr;
		int calls = 0;
		TimeoutFn onTimeout = [&](AvahiTimeout *self) {
			CHECK(self == t);
			++calls;
			if (calls == 1) {
				const timeval again = fromNow(10ms);
				f.api->timeout_update(self, &again);
			} else if (calls == 2) {
				// A past deadline: it must fire again, promptly.
				const timeval past = fromNow(-5s);
				f.api->timeout_update(self, &past);
			} else {
				f.api->timeout_free(self);
			}
		};
		const timeval first = fromNow(10ms);
		t = f.api->timeout_new(f.api, &first, callTimeout, &onTimeout);
		REQUIRE(t);
		runFor(f.loop, 150ms);
		CHECK(calls == 3);
	}

	TEST_CASE("a timeout freed by another's callback in the same iteration does not fire")
	{
		Fixture f;
		AvahiTimeout *a = nullptr;
		AvahiTimeout *b = nullptr;
		int fired = 0;
		TimeoutFn onTimeout = [&](AvahiTimeout *) {
			++fired;
			f.api->timeout_free(a);
			f.api->timeout_free(b);
		};
		const timeval past = fromNow(-1s);
		a = f.api->timeout_new(f.api, &past, callTimeout, &onTimeout);
		b = f.api->timeout_new(f.api, &past, callTimeout, &onTimeout);
		REQUIRE(a);
		REQUIRE(b);
		runFor(f.loop, 50ms);
		CHECK(fired == 1);
	}

	TEST_CASE("destroying the poll frees leftover watches and timeouts; nothing fires afterwards")
	{
		uv::Loop loop;
		Pair pipe;
		int fired = 0;
		WatchFn onWatch = [&](AvahiWatch *, int, AvahiWatchEvent) { ++fired; };
		TimeoutFn onTimeout = [&](AvahiTimeout *) { ++fired; };
		{
			UvPoll poll(loop.get());
			const AvahiPoll *api = poll.get();
			const timeval soon = fromNow(5ms);
			REQUIRE(api->watch_new(api, pipe.a.get(), AVAHI_WATCH_IN, callWatch, &onWatch));
			REQUIRE(api->timeout_new(api, &soon, callTimeout, &onTimeout));
		}
		CHECK(polls(loop) == 0);
		writeAll(pipe.b.get(), "x");
		runFor(loop, 50ms);
		CHECK(fired == 0);
	}
}
