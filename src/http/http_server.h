// distcc-mdnsd --http: the read-only web page, farm.json, server-sent events and /metrics, on threads of their own.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace dmdns::http {

// Bounds on what HTTP clients may hold of the daemon. Every connection is
// served by one of `connections` worker threads; one more arriving while
// all are busy gets a 503 at once from a refusing thread and is closed, so
// neither a flood nor slow clients make the daemon wait or grow.
struct HttpLimits {
	// Connections served at once (and so worker threads).
	std::size_t connections = 64;
	// Of those, event streams (/events) open at once: a stream holds its
	// worker for as long as the page is open.
	std::size_t streams = 16;
	// Connections accepted while all workers are busy and waiting for the
	// refusing thread to answer 503; beyond this the accepting thread
	// waits and the kernel's listen backlog holds (or drops) the rest.
	std::size_t refuseQueue = 256;
	// One request (request line, headers and any body) in bytes: ours are
	// GETs of a few hundred bytes, and browsers send at most a few KiB.
	std::size_t requestBytes = 16 * 1024;
	// Time a client has to send a whole request, however it trickles it.
	std::chrono::milliseconds requestTime{ 10000 };
	// Time a client may leave the socket unwritable (it does not read).
	std::chrono::milliseconds writeTimeout{ 5000 };
	// An idle keep-alive connection is closed after this long, and after
	// this many requests.
	std::chrono::milliseconds keepAlive{ 5000 };
	std::size_t keepAliveRequests = 100;
	// An event stream without a new farm object sends a comment this
	// often, so that proxies and the browser see it alive.
	std::chrono::milliseconds streamHeartbeat{ 10000 };
};

struct HttpConfig {
	std::string address = "127.0.0.1"; // numeric IPv4 or IPv6
	std::uint16_t port = 0;		   // 0: one the kernel chooses (tests)
	HttpLimits limits;
};

// What the server has served, for tests and the log.
struct HttpCounters {
	std::uint64_t requests = 0;	  // requests answered (any status)
	std::uint64_t refused = 0;	  // connections refused with 503: all workers busy
	std::uint64_t streamsRefused = 0; // /events refused: all streams open
	std::uint64_t badRequests = 0;	  // answered 4xx
	std::size_t connections = 0;	  // connections served now
	std::size_t streams = 0;	  // event streams open now
};

// Serves the routes of the README's "Web page and metrics":
//   /            the page (src/http/page.html, built in)
//   /farm.json   the newest farm object (503 until the first)
//   /events      server-sent events, one `data:` line per farm object
//   /metrics     the Prometheus text format (http/metrics.h)
// Binding happens in the constructor, which throws std::runtime_error
// with the reason when the address is taken or not this machine's; the
// threads start in start() and stop, joined, in stop() or the destructor.
class HttpServer final
{
public:
	explicit HttpServer(HttpConfig config);
	~HttpServer();
	HttpServer(const HttpServer &) = delete;
	HttpServer &operator=(const HttpServer &) = delete;

	// The port bound (the kernel's choice when the config said 0).
	std::uint16_t port() const;

	void start();
	void stop();

	// Keeps @json (one farm object, one line) as the newest and wakes the
	// event streams. Takes a mutex only for a move: the daemon's loop may
	// call it.
	void publish(std::string json);

	HttpCounters counters() const;

	class Impl;

private:
	std::unique_ptr<Impl> impl_;
};

} // namespace dmdns::http
