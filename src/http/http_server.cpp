// distcc-mdnsd --http: cpp-httplib parses HTTP; this file bounds who may hold what of it.
#include "http/http_server.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include <httplib.h>

#include "common/log.h"
#include "http/address.h"
#include "http/metrics.h"
#include "http/page.h"

namespace dmdns::http {

namespace {

using Clock = std::chrono::steady_clock;

// Set on the refusing thread: the connection it runs gets a 503, no more.
thread_local bool tRefusing = false;
// The status of the response a worker wrote last: after an error the
// connection is closed, whatever the client asked (it may not even have
// sent a request we could read).
thread_local int tLastStatus = 0;

// Waits up to @timeout for @events on @fd; false on timeout or error.
bool waitFor(int fd, short events, std::chrono::milliseconds timeout)
{
	pollfd p{ fd, events, 0 };
	const Clock::time_point until = Clock::now() + timeout;
	for (;;) {
		const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
		const int n = ::poll(&p, 1, static_cast<int>(std::max<std::int64_t>(left.count(), 0)));
		if (n > 0)
			return true;
		if (n == 0 || errno != EINTR)
			return false;
	}
}

std::string numericName(const sockaddr_storage &addr, socklen_t len, int &port)
{
	char host[NI_MAXHOST] = "";
	char serv[NI_MAXSERV] = "";
	if (::getnameinfo(reinterpret_cast<const sockaddr *>(&addr), len, host, sizeof host, serv, sizeof serv,
			  NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		return {};
	port = std::atoi(serv);
	return host;
}

// One connection's socket as httplib reads and writes it, with the
// limits httplib 0.11 does not have: a request must arrive whole within
// a deadline and a byte budget, however slowly or endlessly it trickles
// (httplib alone bounds only each read and each header line, not their
// number). Reads are buffered: httplib reads a request a byte at a time.
class LimitedStream final : public httplib::Stream
{
public:
	LimitedStream(int fd, const HttpLimits &limits)
		: fd_(fd), limits_(limits)
	{
		beginRequest();
	}

	// A new request on the connection: a fresh deadline and budget.
	void beginRequest()
	{
		deadline_ = Clock::now() + limits_.requestTime;
		taken_ = 0;
	}

	// Whether another request starts within @timeout (keep-alive).
	bool nextRequestWithin(std::chrono::milliseconds timeout) const
	{
		return begin_ < end_ || waitFor(fd_, POLLIN, timeout);
	}

	bool is_readable() const override { return begin_ < end_ || waitFor(fd_, POLLIN, untilDeadline()); }
	bool is_writable() const override { return waitFor(fd_, POLLOUT, limits_.writeTimeout); }

	ssize_t read(char *ptr, size_t size) override
	{
		if (taken_ >= limits_.requestBytes)
			return -1;
		if (begin_ == end_) {
			if (!waitFor(fd_, POLLIN, untilDeadline()))
				return -1;
			ssize_t n;
			do
				n = ::recv(fd_, buffer_, sizeof buffer_, 0);
			while (n < 0 && errno == EINTR);
			if (n <= 0)
				return n;
			begin_ = 0;
			end_ = static_cast<std::size_t>(n);
		}
		const std::size_t n = std::min({ size, end_ - begin_, limits_.requestBytes - taken_ });
		std::memcpy(ptr, buffer_ + begin_, n);
		begin_ += n;
		taken_ += n;
		return static_cast<ssize_t>(n);
	}

	ssize_t write(const char *ptr, size_t size) override
	{
		if (!waitFor(fd_, POLLOUT, limits_.writeTimeout))
			return -1;
		ssize_t n;
		do
			n = ::send(fd_, ptr, size, MSG_NOSIGNAL);
		while (n < 0 && errno == EINTR);
		return n;
	}

	void get_remote_ip_and_port(std::string &ip, int &port) const override
	{
		sockaddr_storage addr{};
		socklen_t len = sizeof addr;
		if (::getpeername(fd_, reinterpret_cast<sockaddr *>(&addr), &len) == 0)
			ip = numericName(addr, len, port);
	}

	void get_local_ip_and_port(std::string &ip, int &port) const override
	{
		sockaddr_storage addr{};
		socklen_t len = sizeof addr;
		if (::getsockname(fd_, reinterpret_cast<sockaddr *>(&addr), &len) == 0)
			ip = numericName(addr, len, port);
	}

	int socket() const override { return fd_; }

private:
	std::chrono::milliseconds untilDeadline() const
	{
		return std::max(std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - Clock::now()),
				std::chrono::milliseconds(0));
	}

	int fd_;
	const HttpLimits &limits_;
	Clock::time_point deadline_;
	std::size_t taken_ = 0; // bytes of this request handed to httplib
	char buffer_[4096];
	std::size_t begin_ = 0;
	std::size_t end_ = 0;
};

// httplib's task queue: a fixed set of workers, one connection each, and
// one refusing thread for connections that find every worker busy. The
// accepting thread thus never queues unboundedly: it hands a connection
// to an idle worker, or to the refuser's bounded queue, or waits (and the
// kernel's backlog holds the rest).
class ConnectionPool final : public httplib::TaskQueue
{
public:
	ConnectionPool(std::size_t workers, std::size_t refuseQueue)
		: refuseQueue_(refuseQueue)
	{
		for (std::size_t i = 0; i < workers; ++i)
			workers_.emplace_back([this] { work(); });
		workerCount_ = workers;
		refuser_ = std::thread([this] { refuse(); });
	}

	~ConnectionPool() override { shutdown(); }

	void enqueue(std::function<void()> fn) override
	{
		std::unique_lock lock(mutex_);
		if (busy_ + work_.size() < workerCount_) {
			work_.push_back(std::move(fn));
			workCv_.notify_one();
			return;
		}
		spaceCv_.wait(lock, [this] { return refused_.size() < refuseQueue_ || done_; });
		if (done_) {
			// The refuser may be gone: refused here, so that the
			// socket is still closed.
			lock.unlock();
			tRefusing = true;
			fn();
			tRefusing = false;
			return;
		}
		refused_.push_back(std::move(fn));
		refuseCv_.notify_one();
	}

	void shutdown() override
	{
		{
			std::lock_guard lock(mutex_);
			if (done_ && workers_.empty())
				return;
			done_ = true;
		}
		workCv_.notify_all();
		refuseCv_.notify_all();
		spaceCv_.notify_all();
		for (std::thread &t : workers_)
			t.join();
		workers_.clear();
		if (refuser_.joinable())
			refuser_.join();
	}

private:
	// Runs the connections handed over, to the last one after shutdown:
	// each closes its socket.
	void work()
	{
		for (;;) {
			std::function<void()> fn;
			{
				std::unique_lock lock(mutex_);
				workCv_.wait(lock, [this] { return !work_.empty() || done_; });
				if (work_.empty())
					return;
				fn = std::move(work_.front());
				work_.pop_front();
				++busy_;
			}
			fn();
			std::lock_guard lock(mutex_);
			--busy_;
		}
	}

	void refuse()
	{
		tRefusing = true;
		for (;;) {
			std::function<void()> fn;
			{
				std::unique_lock lock(mutex_);
				refuseCv_.wait(lock, [this] { return !refused_.empty() || done_; });
				if (refused_.empty())
					return;
				fn = std::move(refused_.front());
				refused_.pop_front();
			}
			spaceCv_.notify_one();
			fn();
		}
	}

	const std::size_t refuseQueue_;
	std::size_t workerCount_ = 0;
	std::mutex mutex_;
	std::condition_variable workCv_, refuseCv_, spaceCv_;
	std::deque<std::function<void()>> work_, refused_;
	std::size_t busy_ = 0;
	bool done_ = false;
	std::vector<std::thread> workers_;
	std::thread refuser_;
};

} // namespace

// The parts the handlers and the connection threads share.
class HttpServer::Impl final : public httplib::Server
{
public:
	explicit Impl(HttpConfig config);

	void publish(std::string json);
	void closeListener();
	void shutDownConnections();

	HttpConfig config_;
	std::thread thread_;
	std::atomic<bool> stopping_{ false };
	int port_ = 0;

	// The newest farm object and its Prometheus rendering, made on the
	// first /metrics after it.
	std::mutex mutex_;
	std::condition_variable published_;
	std::shared_ptr<const std::string> farm_;
	std::uint64_t generation_ = 0; // grows by one per publish()
	std::shared_ptr<const std::string> metrics_;
	std::uint64_t metricsGeneration_ = 0;
	std::set<int> sockets_; // connections being served, for stop()

	std::atomic<std::uint64_t> requests_{ 0 }, refused_{ 0 }, streamsRefused_{ 0 }, badRequests_{ 0 };
	std::atomic<std::size_t> connections_{ 0 }, streams_{ 0 };

private:
	bool process_and_close_socket(socket_t sock) override;
	void routes();
	void serveEvents(httplib::Response &res);
	std::shared_ptr<const std::string> metrics();
};

HttpServer::Impl::Impl(HttpConfig config)
	: config_(std::move(config))
{
	const HttpLimits &l = config_.limits;
	new_task_queue = [workers = l.connections, queue = l.refuseQueue] {
		return new ConnectionPool(workers, queue);
	};
	// Bodies: ours are GETs; httplib answers a longer one 413 unread.
	set_payload_max_length(l.requestBytes);
	// Not httplib's default SO_REUSEPORT: a second daemon of this user on
	// the port must fail to start, not share the connections.
	set_socket_options([](socket_t fd) {
		const int on = 1;
		::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
	});
	routes();
}

// Every accepted connection, on a worker or (all busy) on the refuser.
bool HttpServer::Impl::process_and_close_socket(socket_t sock)
{
	if (tRefusing) {
		static constexpr char k503[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
					       "Retry-After: 1\r\nConnection: close\r\n\r\n";
		++refused_;
		(void)!::send(sock, k503, sizeof k503 - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
		::shutdown(sock, SHUT_RDWR);
		::close(sock);
		return false;
	}
	{
		std::lock_guard lock(mutex_);
		sockets_.insert(sock);
	}
	++connections_;
	LimitedStream stream(sock, config_.limits);
	try {
		for (std::size_t n = 0; n < config_.limits.keepAliveRequests && !stopping_; ++n) {
			if (n > 0 && !stream.nextRequestWithin(config_.limits.keepAlive))
				break;
			stream.beginRequest();
			bool closed = false;
			const bool last = n + 1 == config_.limits.keepAliveRequests;
			tLastStatus = 0;
			if (!process_request(stream, last, closed, nullptr) || closed || tLastStatus >= 400)
				break;
		}
	} catch (const std::exception &e) {
		log(LogLevel::Warning, "http: a connection failed: {}", e.what());
	}
	--connections_;
	{
		// Closed under the lock, so that stop() never shuts down a
		// number the kernel gave to another file.
		std::lock_guard lock(mutex_);
		sockets_.erase(sock);
		::shutdown(sock, SHUT_RDWR);
		::close(sock);
	}
	return true;
}

// httplib's stop() does nothing until its thread has begun listening:
// closed here whatever the thread has reached, so that it cannot begin
// after stop() and never be joined.
void HttpServer::Impl::closeListener()
{
	const socket_t fd = svr_sock_.exchange(INVALID_SOCKET);
	if (fd != INVALID_SOCKET) {
		::shutdown(fd, SHUT_RDWR);
		::close(fd);
	}
}

void HttpServer::Impl::shutDownConnections()
{
	std::lock_guard lock(mutex_);
	for (int fd : sockets_)
		::shutdown(fd, SHUT_RDWR);
}

void HttpServer::Impl::publish(std::string json)
{
	// One line without its end: an event's data field must not hold a
	// line break.
	while (!json.empty() && (json.back() == '\n' || json.back() == '\r'))
		json.pop_back();
	auto farm = std::make_shared<const std::string>(std::move(json));
	{
		std::lock_guard lock(mutex_);
		farm_ = std::move(farm);
		++generation_;
	}
	published_.notify_all();
}

std::shared_ptr<const std::string> HttpServer::Impl::metrics()
{
	std::shared_ptr<const std::string> farm;
	std::uint64_t generation;
	{
		std::lock_guard lock(mutex_);
		if (metrics_ && metricsGeneration_ == generation_)
			return metrics_;
		farm = farm_;
		generation = generation_;
	}
	// Rendered outside the lock: publish() must not wait for it.
	auto text = std::make_shared<const std::string>(renderMetrics(farm ? *farm : std::string_view()));
	std::lock_guard lock(mutex_);
	if (generation >= metricsGeneration_) {
		metrics_ = text;
		metricsGeneration_ = generation;
	}
	return text;
}

void HttpServer::Impl::routes()
{
	// The page may fetch from this server only; whatever text a host
	// name in the farm object carries, it cannot load anything else.
	set_default_headers({
		{ "Cache-Control", "no-store" },
		{ "X-Content-Type-Options", "nosniff" },
		{ "Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src "
					     "'unsafe-inline'; connect-src 'self'; img-src data:; "
					     "base-uri 'none'; form-action 'none'; frame-ancestors 'none'" },
	});
	// A web page elsewhere that makes the browser resolve its own name
	// to this address (DNS rebinding) names itself in Host: refused.
	set_pre_routing_handler([](const httplib::Request &req, httplib::Response &res) {
		if (hostAllowed(req.get_header_value("Host")))
			return HandlerResponse::Unhandled;
		res.status = 421;
		res.set_content("this server answers only requests for its own address or host name\n",
				"text/plain; charset=utf-8");
		return HandlerResponse::Handled;
	});
	Get("/", [](const httplib::Request &, httplib::Response &res) {
		res.set_content(std::string(pageHtml()), "text/html; charset=utf-8");
	});
	Get("/farm.json", [this](const httplib::Request &, httplib::Response &res) {
		std::shared_ptr<const std::string> farm;
		{
			std::lock_guard lock(mutex_);
			farm = farm_;
		}
		if (!farm) {
			res.status = 503;
			res.set_header("Retry-After", "1");
			res.set_content("{\"error\":\"no farm object yet\"}\n", "application/json");
			return;
		}
		res.set_content(*farm + "\n", "application/json");
	});
	Get("/metrics", [this](const httplib::Request &, httplib::Response &res) {
		res.set_content(*metrics(), "text/plain; version=0.0.4; charset=utf-8");
	});
	Get("/events", [this](const httplib::Request &, httplib::Response &res) { serveEvents(res); });
	set_error_handler([](const httplib::Request &, httplib::Response &res) {
		if (res.body.empty())
			res.set_content(fmt::format("HTTP error {}\n", res.status), "text/plain; charset=utf-8");
	});
	set_exception_handler([](const httplib::Request &, httplib::Response &res, std::exception_ptr e) {
		try {
			std::rethrow_exception(e);
		} catch (const std::exception &x) {
			log(LogLevel::Warning, "http: a request failed: {}", x.what());
		} catch (...) {
		}
		res.status = 500;
		res.set_content("500 internal error\n", "text/plain; charset=utf-8");
	});
	set_logger([this](const httplib::Request &req, const httplib::Response &res) {
		++requests_;
		tLastStatus = res.status;
		if (res.status >= 400 && res.status < 500)
			++badRequests_;
		log(LogLevel::Debug, "http: {} {} {} {}", req.remote_addr, req.method, req.path, res.status);
	});
}

// Server-sent events: every farm object as it is published, a comment
// when none came for a while; bounded in number, each holding a worker.
void HttpServer::Impl::serveEvents(httplib::Response &res)
{
	if (streams_.fetch_add(1) >= config_.limits.streams) {
		--streams_;
		++streamsRefused_;
		res.status = 503;
		res.set_header("Retry-After", "5");
		res.set_content("too many event streams open\n", "text/plain; charset=utf-8");
		return;
	}
	auto sent = std::make_shared<std::uint64_t>(0);
	res.set_chunked_content_provider(
		"text/event-stream",
		[this, sent](std::size_t, httplib::DataSink &sink) {
			std::shared_ptr<const std::string> farm;
			{
				std::unique_lock lock(mutex_);
				published_.wait_for(lock, config_.limits.streamHeartbeat,
						    [&] { return generation_ != *sent || stopping_; });
				if (stopping_)
					return false;
				if (generation_ != *sent) {
					farm = farm_;
					*sent = generation_;
				}
			}
			// The object is one line (JSON escapes newlines): one data field.
			const std::string event = farm ? "data: " + *farm + "\n\n" : std::string(": alive\n\n");
			return sink.write(event.data(), event.size());
		},
		[this](bool) { --streams_; });
}

HttpServer::HttpServer(HttpConfig config)
	: impl_(std::make_unique<Impl>(std::move(config)))
{
	const HttpConfig &c = impl_->config_;
	int port = c.port ? (impl_->bind_to_port(c.address, c.port) ? c.port : -1)
			  : impl_->bind_to_any_port(c.address);
	if (port <= 0)
		throw std::runtime_error(fmt::format("--http: cannot listen on {}: {}", joinAddress(c.address, c.port),
						     bindError(c.address, c.port)));
	impl_->port_ = port;
}

HttpServer::~HttpServer()
{
	stop();
}

std::uint16_t HttpServer::port() const
{
	return static_cast<std::uint16_t>(impl_->port_);
}

void HttpServer::start()
{
	if (impl_->thread_.joinable())
		return;
	impl_->thread_ = std::thread([impl = impl_.get()] {
		if (!impl->listen_after_bind() && !impl->stopping_)
			log(LogLevel::Error, "http: stopped accepting connections");
	});
	log(LogLevel::Info, "http: serving the farm view on http://{}/",
	    joinAddress(impl_->config_.address, static_cast<std::uint16_t>(impl_->port_)));
}

void HttpServer::stop()
{
	{
		// Under the streams' lock, so that none misses the wake-up.
		std::lock_guard lock(impl_->mutex_);
		if (impl_->stopping_.exchange(true))
			return;
	}
	impl_->published_.notify_all();
	impl_->closeListener();
	impl_->shutDownConnections();
	if (impl_->thread_.joinable())
		impl_->thread_.join();
}

void HttpServer::publish(std::string json)
{
	impl_->publish(std::move(json));
}

HttpCounters HttpServer::counters() const
{
	HttpCounters c;
	c.requests = impl_->requests_;
	c.refused = impl_->refused_;
	c.streamsRefused = impl_->streamsRefused_;
	c.badRequests = impl_->badRequests_;
	c.connections = impl_->connections_;
	c.streams = impl_->streams_;
	return c;
}

} // namespace dmdns::http
