// HttpServer on loopback: its routes, and the bounds a flood, a slow client or a huge request meet.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

#include "http/http_server.h"

using namespace dmdns::http;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

std::string fixture()
{
	std::ifstream in(HTTP_FIXTURE);
	std::stringstream s;
	s << in.rdbuf();
	std::string text = s.str();
	while (!text.empty() && text.back() == '\n')
		text.pop_back();
	REQUIRE(!text.empty());
	return text;
}

// A raw TCP connection to the server, for what a well-behaved client
// library would not send.
class Raw
{
public:
	explicit Raw(std::uint16_t port)
	{
		fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		REQUIRE(fd_ >= 0);
		sockaddr_in a{};
		a.sin_family = AF_INET;
		a.sin_port = htons(port);
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		REQUIRE(::connect(fd_, reinterpret_cast<sockaddr *>(&a), sizeof a) == 0);
	}
	~Raw() { close(); }

	void close()
	{
		if (fd_ >= 0)
			::close(fd_);
		fd_ = -1;
	}

	// False once the server closed or reset the connection.
	bool send(const std::string &s) { return ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL) == ssize_t(s.size()); }

	// Reads until @what arrived, the peer closed or @timeout passed;
	// whether @what arrived.
	bool readUntil(const std::string &what, std::chrono::milliseconds timeout = 3000ms)
	{
		const auto until = Clock::now() + timeout;
		while (received_.find(what) == std::string::npos) {
			if (!readSome(until))
				return false;
		}
		return true;
	}

	// Whether the server closes the connection within @timeout (reading
	// and keeping whatever it sends first).
	bool closedWithin(std::chrono::milliseconds timeout)
	{
		const auto until = Clock::now() + timeout;
		while (readSome(until)) {
		}
		return closed_;
	}

	const std::string &received() const { return received_; }

private:
	bool readSome(Clock::time_point until)
	{
		const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
		if (left <= 0 || closed_)
			return false;
		pollfd p{ fd_, POLLIN, 0 };
		if (::poll(&p, 1, static_cast<int>(left)) <= 0)
			return false;
		char buf[4096];
		const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
		if (n <= 0) {
			closed_ = true;
			return false;
		}
		received_.append(buf, static_cast<std::size_t>(n));
		return true;
	}

	int fd_ = -1;
	bool closed_ = false;
	std::string received_;
};

std::unique_ptr<HttpServer> serve(HttpLimits limits = {})
{
	auto s = std::make_unique<HttpServer>(HttpConfig{ "127.0.0.1", 0, limits });
	s->start();
	return s;
}

} // namespace

TEST_SUITE("http_server")
{
	TEST_CASE("routes: farm.json, the page, metrics; 404, 4xx and foreign hosts")
	{
		auto server = serve();
		httplib::Client c("127.0.0.1", server->port());
		auto r = c.Get("/farm.json");
		REQUIRE(r);
		CHECK(r->status == 503);

		// The daemon's objects end in a newline (farmLine): kept as one line.
		const std::string farm = fixture();
		server->publish(farm + "\n");
		r = c.Get("/farm.json");
		REQUIRE(r);
		CHECK(r->status == 200);
		CHECK(r->body == farm + "\n");
		CHECK(r->get_header_value("Content-Type") == "application/json");

		r = c.Get("/");
		REQUIRE(r);
		CHECK(r->status == 200);
		CHECK(r->get_header_value("Content-Type") == "text/html; charset=utf-8");
		CHECK(r->body.find("<title>distcc-mdns farm</title>") != std::string::npos);
		CHECK(r->get_header_value("Content-Security-Policy").find("default-src 'none'") != std::string::npos);

		r = c.Get("/metrics");
		REQUIRE(r);
		CHECK(r->status == 200);
		CHECK(r->get_header_value("Content-Type") == "text/plain; version=0.0.4; charset=utf-8");
		CHECK(r->body.find("\ndistcc_mdns_farm_seq 17\n") != std::string::npos);

		// A newer object replaces the rendering.
		std::string newer = farm;
		newer.replace(newer.find("\"seq\":17"), 8, "\"seq\":18");
		server->publish(newer);
		r = c.Get("/metrics");
		REQUIRE(r);
		CHECK(r->body.find("\ndistcc_mdns_farm_seq 18\n") != std::string::npos);

		r = c.Get("/nothing");
		REQUIRE(r);
		CHECK(r->status == 404);
		r = c.Post("/farm.json", "x", "text/plain");
		REQUIRE(r);
		CHECK(r->status >= 400);
		CHECK(r->status < 500);
		r = c.Get("/", { { "Host", "evil.example.com" } });
		REQUIRE(r);
		CHECK(r->status == 421);
		// Counted once the response is written: the client may read it first.
		const auto until = Clock::now() + 3s;
		while (server->counters().badRequests < 3 && Clock::now() < until)
			std::this_thread::yield();
		CHECK(server->counters().badRequests >= 3);
	}

	TEST_CASE("malformed request lines get 400 or a close, and the server goes on")
	{
		auto server = serve();
		server->publish(fixture());
		for (const char *junk : { "\r\n\r\n", "GARBAGE\r\n\r\n", "GET\r\n\r\n", "GET / HTTP/9.9\r\n\r\n",
					  "GET /%zz HTTP/1.1\r\n\r\n", "\x01\x02\x03\xff\r\n\r\n" }) {
			Raw raw(server->port());
			raw.send(junk);
			CHECK_MESSAGE(raw.closedWithin(3000ms), junk);
			CHECK(raw.received().find("HTTP/1.1 200") == std::string::npos);
		}
		httplib::Client c("127.0.0.1", server->port());
		auto r = c.Get("/farm.json");
		REQUIRE(r);
		CHECK(r->status == 200);
	}

	TEST_CASE("events: the newest object at once, then each new one")
	{
		auto server = serve();
		const std::string farm = fixture();
		server->publish(farm);
		Raw raw(server->port());
		REQUIRE(raw.send("GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
		REQUIRE(raw.readUntil("\"seq\":17"));
		CHECK(raw.received().find("Content-Type: text/event-stream") != std::string::npos);
		CHECK(raw.received().find("data: " + farm + "\n\n") != std::string::npos);
		CHECK(server->counters().streams == 1);
		std::string newer = farm;
		newer.replace(newer.find("\"seq\":17"), 8, "\"seq\":18");
		server->publish(newer);
		CHECK(raw.readUntil("\"seq\":18"));
		raw.close();
		// The stream's worker notices the close at its next write.
		server->publish(farm);
		const auto until = Clock::now() + 5s;
		while (server->counters().streams != 0 && Clock::now() < until) {
			server->publish(farm);
			std::this_thread::yield();
		}
		CHECK(server->counters().streams == 0);
	}

	TEST_CASE("event streams beyond the limit get 503")
	{
		HttpLimits limits;
		limits.streams = 2;
		auto server = serve(limits);
		server->publish(fixture());
		std::vector<std::unique_ptr<Raw>> open;
		for (int i = 0; i < 2; ++i) {
			open.push_back(std::make_unique<Raw>(server->port()));
			REQUIRE(open.back()->send("GET /events HTTP/1.1\r\n\r\n"));
			REQUIRE(open.back()->readUntil("data: "));
		}
		Raw third(server->port());
		REQUIRE(third.send("GET /events HTTP/1.1\r\n\r\n"));
		CHECK(third.readUntil("HTTP/1.1 503"));
		CHECK(server->counters().streamsRefused == 1);
	}

	TEST_CASE("connections beyond the workers are refused at once, and served again after")
	{
		HttpLimits limits;
		limits.connections = 2;
		limits.requestTime = 20000ms; // the idle ones hold their workers throughout
		auto server = serve(limits);
		server->publish(fixture());
		std::vector<std::unique_ptr<Raw>> idle;
		for (int i = 0; i < 2; ++i)
			idle.push_back(std::make_unique<Raw>(server->port()));
		// Wait until both are taken by workers (connections counts them).
		auto until = Clock::now() + 3s;
		while (server->counters().connections < 2 && Clock::now() < until)
			std::this_thread::yield();
		REQUIRE(server->counters().connections == 2);
		const auto start = Clock::now();
		Raw third(server->port());
		third.send("GET /farm.json HTTP/1.1\r\n\r\n");
		CHECK(third.readUntil("HTTP/1.1 503"));
		CHECK(Clock::now() - start < 1s);
		CHECK(server->counters().refused >= 1);
		idle.clear();
		// Served again once the idle ones left.
		until = Clock::now() + 5s;
		bool served = false;
		while (!served && Clock::now() < until) {
			Raw again(server->port());
			again.send("GET /farm.json HTTP/1.1\r\n\r\n");
			served = again.readUntil("HTTP/1.1 200", 1000ms);
		}
		CHECK(served);
	}

	TEST_CASE("a request trickled a byte at a time is cut at its deadline")
	{
		HttpLimits limits;
		limits.requestTime = 400ms;
		auto server = serve(limits);
		Raw slow(server->port());
		const auto start = Clock::now();
		const std::string request = "GET /farm.json HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
		bool cut = false;
		for (std::size_t i = 0; i < request.size() && !cut; ++i) {
			if (!slow.send(request.substr(i, 1)))
				break;
			cut = slow.closedWithin(50ms);
		}
		CHECK((cut || slow.closedWithin(2000ms)));
		const auto took = Clock::now() - start;
		CHECK(took >= 350ms);
		CHECK(took < 2500ms);
	}

	TEST_CASE("oversized headers and bodies: 4xx, and reading stops at the budget")
	{
		HttpLimits limits;
		limits.requestBytes = 2048;
		auto server = serve(limits);
		server->publish(fixture());
		{
			Raw raw(server->port());
			raw.send("GET /farm.json HTTP/1.1\r\nX-Big: " + std::string(4000, 'a') + "\r\n\r\n");
			CHECK(raw.closedWithin(3000ms));
			CHECK(raw.received().find("HTTP/1.1 200") == std::string::npos);
		}
		{
			// Endless headers: the server stops reading after 2 KiB and
			// answers; the rest of ours meets a closed socket.
			Raw raw(server->port());
			raw.send("GET /farm.json HTTP/1.1\r\n");
			bool refused = false;
			for (int i = 0; i < 20000 && !refused; ++i)
				refused = !raw.send("X-Header-" + std::to_string(i) + ": value\r\n");
			CHECK((refused || raw.closedWithin(3000ms)));
			CHECK(raw.received().find("HTTP/1.1 200") == std::string::npos);
		}
		{
			Raw raw(server->port());
			raw.send("POST /farm.json HTTP/1.1\r\nContent-Length: 100000000\r\n\r\n" + std::string(3000, 'b'));
			CHECK(raw.readUntil("HTTP/1.1 4"));
		}
		httplib::Client c("127.0.0.1", server->port());
		auto r = c.Get("/farm.json");
		REQUIRE(r);
		CHECK(r->status == 200);
	}

	TEST_CASE("stop() returns promptly with streams and slow clients open")
	{
		auto server = serve();
		server->publish(fixture());
		Raw stream(server->port());
		REQUIRE(stream.send("GET /events HTTP/1.1\r\n\r\n"));
		REQUIRE(stream.readUntil("data: "));
		Raw slow(server->port());
		slow.send("GET / HTTP/1.1\r\n");
		const auto start = Clock::now();
		server->stop();
		CHECK(Clock::now() - start < 2s);
		CHECK(stream.closedWithin(2000ms));
		CHECK(slow.closedWithin(2000ms));
	}

	TEST_CASE("a port in use is a clear error")
	{
		auto first = serve();
		try {
			HttpServer second(HttpConfig{ "127.0.0.1", first->port(), {} });
			FAIL("bound a port in use");
		} catch (const std::runtime_error &e) {
			CHECK(std::string(e.what()).find("cannot listen on 127.0.0.1:") != std::string::npos);
			CHECK(std::string(e.what()).find("in use") != std::string::npos);
		}
	}
}
