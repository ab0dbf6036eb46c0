// libuv RAII: timers, signals, fd polls, the Unix query socket and the loop's cleanup.
#include <doctest/doctest.h>

#include <csignal>
#include <map>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include <sys/stat.h>

#include "adapter/support.h"
#include "uv/handle.h"

using namespace std::chrono_literals;
namespace uv = dmdns::uv;
using dmdns::test::connectUnix;
using dmdns::test::Fd;
using dmdns::test::Pair;
using dmdns::test::readAll;
using dmdns::test::runFor;
using dmdns::test::runUntilStopped;
using dmdns::test::TempDir;
using dmdns::test::writeAll;

namespace {

bool exists(const std::string &path)
{
	struct stat st { };
	return ::lstat(path.c_str(), &st) == 0;
}

// Serves one line per connection: answers "echo LINE" and closes; keeps the
// streams until they report closing and counts that.
class EchoServer final
{
public:
	EchoServer(uv_loop_t &loop, const std::string &path, std::function<void()> onClosed)
		: onClosed_(std::move(onClosed)),
		  server_(loop, path, [this](std::unique_ptr<uv::Stream> s) { accept(std::move(s)); })
	{
	}

	int accepted = 0;
	int closed = 0;

private:
	void accept(std::unique_ptr<uv::Stream> stream)
	{
		++accepted;
		uv::Stream *raw = stream.get();
		auto line = std::make_shared<std::string>();
		raw->setOnData([raw, line](std::string_view data) {
			line->append(data);
			if (const auto nl = line->find('\n'); nl != std::string::npos) {
				// A temporary: the Stream must keep its own copy.
				CHECK(raw->write("echo " + line->substr(0, nl + 1)));
				raw->shutdownAndClose();
				CHECK_FALSE(raw->write("late\n"));
			}
		});
		raw->setOnClose([this, raw] {
			++closed;
			onClosed_();
			// Destroys the Stream from inside its own onClose.
			streams_.erase(raw);
		});
		streams_.emplace(raw, std::move(stream));
	}

	std::function<void()> onClosed_;
	std::map<uv::Stream *, std::unique_ptr<uv::Stream>> streams_;
	uv::UnixServer server_;
};

} // namespace

TEST_SUITE("uv_handles")
{
	TEST_CASE("a one-shot timer fires once, a repeating one until stopped")
	{
		uv::Loop loop;
		int once = 0;
		int repeated = 0;
		uv::Timer oneShot(loop.get(), [&] { ++once; });
		uv::Timer repeating(loop.get(), [&] {
			++repeated;
			// Counted out, and stopped from inside its own callback.
			CHECK(repeating.active());
			if (repeated == 3)
				repeating.stop();
		});
		oneShot.start(5ms);
		repeating.start(1ms, 5ms);
		CHECK(oneShot.active());
		runFor(loop, 150ms);
		CHECK(once == 1);
		CHECK(repeated == 3);
		CHECK_FALSE(oneShot.active());
		CHECK_FALSE(repeating.active());
	}

	TEST_CASE("a timer does not fire before its timeout")
	{
		uv::Loop loop;
		uv_update_time(&loop.get());
		const std::uint64_t start = uv_now(&loop.get());
		std::uint64_t at = 0;
		uv::Timer timer(loop.get(), [&] {
			at = uv_now(&loop.get());
			loop.stop();
		});
		timer.start(30ms);
		CHECK(runUntilStopped(loop));
		CHECK(at >= start + 30);
	}

	TEST_CASE("a timer may be destroyed inside its own callback or before it fires")
	{
		uv::Loop loop;
		int selfDestroyed = 0;
		int cancelled = 0;
		std::unique_ptr<uv::Timer> a;
		a = std::make_unique<uv::Timer>(loop.get(), [&] {
			++selfDestroyed;
			a.reset();
		});
		a->start(1ms, 1ms);
		auto b = std::make_unique<uv::Timer>(loop.get(), [&] { ++cancelled; });
		b->start(10ms);
		b.reset();
		runFor(loop, 60ms);
		CHECK(selfDestroyed == 1);
		CHECK(cancelled == 0);
	}

	TEST_CASE("a signal handler runs on the loop")
	{
		uv::Loop loop;
		int received = 0;
		uv::Signal signal(loop.get(), SIGUSR1, [&] {
			++received;
			loop.stop();
		});
		REQUIRE(::raise(SIGUSR1) == 0);
		CHECK(runUntilStopped(loop));
		CHECK(received == 1);
	}

	TEST_CASE("a poll reports readability, and a second poll on the fd is refused")
	{
		uv::Loop loop;
		Pair pipe;
		int ready = 0;
		uv::Poll poll(loop.get(), pipe.a.get(), [&](int status, int events) {
			++ready;
			CHECK(status == 0);
			CHECK((events & UV_READABLE) != 0);
			char c = 0;
			CHECK(::read(pipe.a.get(), &c, 1) == 1);
			CHECK(c == 'x');
			loop.stop();
		});
		poll.start(UV_READABLE);
		CHECK(poll.active());
		writeAll(pipe.b.get(), "x");
		CHECK(runUntilStopped(loop));
		CHECK(ready == 1);

		try {
			uv::Poll second(loop.get(), pipe.a.get(), [](int, int) {});
			FAIL("a second uv_poll_t on one fd was accepted");
		} catch (const std::system_error &e) {
			CHECK(e.code().value() == EEXIST);
		}
		poll.stop();
		CHECK_FALSE(poll.active());
	}

	TEST_CASE("the loop's destructor closes handles whose owners outlive it")
	{
		TempDir dir;
		const std::string path = dir.file("outlive.sock");
		std::unique_ptr<uv::Timer> timer;
		std::unique_ptr<uv::UnixServer> server;
		int fired = 0;
		// Created with the raw API: the loop closes it but cannot free it.
		uv_timer_t foreign{};
		{
			uv::Loop loop;
			REQUIRE(uv_timer_init(&loop.get(), &foreign) == 0);
			REQUIRE(uv_timer_start(
					&foreign, [](uv_timer_t *) {}, 3600000, 0) == 0);
			timer = std::make_unique<uv::Timer>(loop.get(), [&] { ++fired; });
			timer->start(1h);
			server = std::make_unique<uv::UnixServer>(loop.get(), path, [](std::unique_ptr<uv::Stream>) {});
			CHECK(exists(path));
		}
		CHECK(timer->closed());
		CHECK_FALSE(timer->active());
		timer->stop();
		CHECK_THROWS_AS(timer->start(1ms), std::logic_error);
		CHECK(server->closed());
		CHECK_FALSE(exists(path));
		CHECK(uv_is_closing(reinterpret_cast<uv_handle_t *>(&foreign)));
		timer.reset();
		server.reset();
		CHECK(fired == 0);
	}

	TEST_CASE("the query socket serves many concurrent clients, mode 0666, and goes away")
	{
		TempDir dir;
		const std::string path = dir.file("query.sock");
		constexpr int clients = 64;
		uv::Loop loop;
		std::vector<Fd> fds;
		{
			EchoServer server(loop.get(), path, [] {});
			struct stat st { };
			REQUIRE(::stat(path.c_str(), &st) == 0);
			CHECK(S_ISSOCK(st.st_mode));
			CHECK((st.st_mode & 0777) == 0666);

			// All connect and send before the server accepts any.
			for (int i = 0; i < clients; ++i) {
				fds.push_back(connectUnix(path));
				writeAll(fds.back().get(), "hello " + std::to_string(i) + "\n");
			}
			uv::Timer done(loop.get(), [&] {
				if (server.closed == clients)
					loop.stop();
			});
			done.start(1ms, 1ms);
			CHECK(runUntilStopped(loop));
			CHECK(server.accepted == clients);
			CHECK(server.closed == clients);
			for (int i = 0; i < clients; ++i)
				CHECK(readAll(fds[static_cast<std::size_t>(i)].get()) ==
				      "echo hello " + std::to_string(i) + "\n");
		}
		CHECK_FALSE(exists(path));
	}

	TEST_CASE("a stale socket file is replaced; a live one or a non-socket is refused")
	{
		TempDir dir;
		uv::Loop loop;
		const std::string stale = dir.file("stale.sock");
		{
			// Bound and closed: the file stays, nobody listens.
			Fd fd(::socket(AF_UNIX, SOCK_STREAM, 0));
			sockaddr_un addr{};
			addr.sun_family = AF_UNIX;
			stale.copy(addr.sun_path, sizeof(addr.sun_path) - 1);
			REQUIRE(::bind(fd.get(), reinterpret_cast<const sockaddr *>(&addr), sizeof(addr)) == 0);
		}
		REQUIRE(exists(stale));
		uv::UnixServer first(loop.get(), stale, [](std::unique_ptr<uv::Stream>) {});
		CHECK(first.path() == stale);
		CHECK_THROWS(uv::UnixServer(loop.get(), stale, [](std::unique_ptr<uv::Stream>) {}));
		// The refused second server must not have unlinked the live socket.
		CHECK(exists(stale));

		const std::string file = dir.file("plain");
		Fd(::open(file.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
		CHECK_THROWS(uv::UnixServer(loop.get(), file, [](std::unique_ptr<uv::Stream>) {}));
		CHECK(exists(file));

		CHECK_THROWS_AS(uv::UnixServer(loop.get(), dir.file(std::string(120, 'x')), [](std::unique_ptr<uv::Stream>) {}),
				std::invalid_argument);
	}

	TEST_CASE("a half-closed client gets a large answer in full before the stream closes")
	{
		TempDir dir;
		const std::string path = dir.file("big.sock");
		uv::Loop loop;
		const std::size_t size = 1 << 20;
		std::unique_ptr<uv::Stream> stream;
		bool serverSawClose = false;
		uv::UnixServer server(loop.get(), path, [&](std::unique_ptr<uv::Stream> s) {
			stream = std::move(s);
			stream->setOnData([&](std::string_view data) {
				CHECK(data == "big\n");
				// Far more than the socket buffer: most of it waits in libuv.
				CHECK(stream->write(std::string(size, 'z') + "end\n"));
				CHECK(stream->writeQueueSize() > 0);
			});
			stream->setOnClose([&] {
				serverSawClose = true;
				stream.reset();
			});
		});

		Fd client = connectUnix(path);
		writeAll(client.get(), "big\n");
		REQUIRE(::shutdown(client.get(), SHUT_WR) == 0);
		std::string received;
		bool eof = false;
		uv::Poll reader(loop.get(), client.get(), [&](int status, int) {
			REQUIRE(status == 0);
			char buf[65536];
			for (;;) {
				const ssize_t n = ::read(client.get(), buf, sizeof(buf));
				if (n > 0) {
					received.append(buf, static_cast<std::size_t>(n));
					continue;
				}
				if (n == 0) {
					eof = true;
					loop.stop();
				} else if (errno != EAGAIN) {
					FAIL("read: ", errno);
					loop.stop();
				}
				return;
			}
		});
		reader.start(UV_READABLE);
		CHECK(runUntilStopped(loop));
		CHECK(eof);
		CHECK(received.size() == size + 4);
		CHECK(received.ends_with("zend\n"));
		CHECK(serverSawClose);
		CHECK_FALSE(stream);
	}

	TEST_CASE("destroying a stream with a write and a shutdown pending is safe")
	{
		TempDir dir;
		const std::string path = dir.file("drop.sock");
		uv::Loop loop;
		bool dropped = false;
		bool closeFired = false;
		uv::UnixServer server(loop.get(), path, [&](std::unique_ptr<uv::Stream> stream) {
			stream->setOnClose([&] { closeFired = true; });
			// More than the socket buffer, so the write and the shutdown
			// are still pending when the owner lets go; libuv cancels them
			// once the Stream is gone.
			CHECK(stream->write(std::string(1 << 20, 'z')));
			stream->shutdownAndClose();
			stream.reset();
			dropped = true;
			loop.stop();
		});
		Fd client = connectUnix(path);
		CHECK(runUntilStopped(loop));
		runFor(loop, 20ms);
		CHECK(dropped);
		CHECK_FALSE(closeFired);
	}

	TEST_CASE("a peer that disconnects ends the stream; destroying it in onData is safe")
	{
		TempDir dir;
		const std::string path = dir.file("peer.sock");
		uv::Loop loop;
		std::map<int, std::unique_ptr<uv::Stream>> streams;
		int next = 0;
		int closes = 0;
		uv::UnixServer server(loop.get(), path, [&](std::unique_ptr<uv::Stream> s) {
			const int id = next++;
			uv::Stream *raw = s.get();
			streams.emplace(id, std::move(s));
			raw->setOnData([&, id](std::string_view) {
				// The second client's stream dies in its own data callback.
				streams.erase(id);
			});
			raw->setOnClose([&, id] {
				++closes;
				CHECK(id == 0);
				streams.erase(id);
			});
		});

		// The first client leaves without a word: onClose must fire.
		connectUnix(path).reset();
		// The second writes, and sees end of file once the server drops it.
		Fd second = connectUnix(path);
		writeAll(second.get(), "bye\n");
		bool eof = false;
		uv::Poll reader(loop.get(), second.get(), [&](int, int events) {
			if ((events & (UV_READABLE | UV_DISCONNECT)) == 0)
				return;
			char c;
			if (::read(second.get(), &c, 1) == 0) {
				eof = true;
				reader.stop();
			}
		});
		reader.start(UV_READABLE);
		uv::Timer done(loop.get(), [&] {
			if (eof && closes == 1 && streams.empty())
				loop.stop();
		});
		done.start(1ms, 1ms);
		CHECK(runUntilStopped(loop));
		CHECK(next == 2);
		CHECK(closes == 1);
	}
}
