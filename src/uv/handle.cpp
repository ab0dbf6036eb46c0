// RAII owners of a libuv loop and its handles; handle memory outlives its owner until libuv's close callback.
#include "uv/handle.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <mutex>
#include <stdexcept>
#include <system_error>
#include <unordered_set>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "uv/handle_detail.h"

namespace dmdns::uv {

namespace {

// Handles whose owner is alive, so that ~Loop can tell them from handles
// someone else created (whose data it must not interpret). Never destroyed:
// an owner with static storage may close after static destructors ran.
struct Registry {
	std::mutex mutex;
	std::unordered_set<const uv_handle_t *> owned;
};

Registry &registry()
{
	static Registry *const instance = new Registry;
	return *instance;
}

void enrol(const uv_handle_t *handle)
{
	Registry &r = registry();
	const std::lock_guard lock(r.mutex);
	r.owned.insert(handle);
}

void withdraw(const uv_handle_t *handle) noexcept
{
	Registry &r = registry();
	const std::lock_guard lock(r.mutex);
	r.owned.erase(handle);
}

bool isOwned(const uv_handle_t *handle) noexcept
{
	Registry &r = registry();
	const std::lock_guard lock(r.mutex);
	return r.owned.contains(handle);
}

std::uint64_t millis(std::chrono::milliseconds d) noexcept
{
	return static_cast<std::uint64_t>(std::max<std::chrono::milliseconds::rep>(d.count(), 0));
}

// True if a server accepts connections at @path, so it is not stale.
bool answers(const std::string &path)
{
	const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		throw std::system_error(errno, std::generic_category(), "socket");
	sockaddr_un addr{};
	addr.sun_family = AF_UNIX;
	path.copy(addr.sun_path, sizeof(addr.sun_path) - 1);
	const int rc = ::connect(fd, reinterpret_cast<const sockaddr *>(&addr), sizeof(addr));
	const int error = errno;
	::close(fd);
	// A full backlog (EAGAIN) still means someone listens.
	return rc == 0 || error == EAGAIN || error == EINPROGRESS;
}

void removeStale(const std::string &path)
{
	struct stat st { };
	if (::lstat(path.c_str(), &st) != 0) {
		if (errno == ENOENT)
			return;
		throw std::system_error(errno, std::generic_category(), "stat " + path);
	}
	if (!S_ISSOCK(st.st_mode))
		throw std::runtime_error(path + " exists and is not a socket");
	if (answers(path))
		throw std::runtime_error(path + " is in use by a running server");
	if (::unlink(path.c_str()) != 0 && errno != ENOENT)
		throw std::system_error(errno, std::generic_category(), "unlink " + path);
}

} // namespace

void check(int status, std::string_view what)
{
	// libuv's error codes are negated errno values on Unix.
	if (status < 0)
		throw std::system_error(-status, std::generic_category(), std::string(what));
}

// ---- Loop

Loop::Loop()
{
	check(uv_loop_init(&loop_), "uv_loop_init");
}

Loop::~Loop()
{
	uv_walk(
		&loop_,
		[](uv_handle_t *handle, void *) {
			if (uv_is_closing(handle))
				return;
			if (isOwned(handle)) {
				static_cast<Handle *>(handle->data)->close();
				return;
			}
			// Not ours: we cannot know how to free it, only close it.
			log(LogLevel::Warning, "closing a foreign {} handle left on the loop",
			    uv_handle_type_name(uv_handle_get_type(handle)));
			uv_close(handle, nullptr);
		},
		nullptr);
	// Close callbacks free the memory; cancelled requests complete.
	while (uv_run(&loop_, UV_RUN_DEFAULT) != 0) {
	}
	if (const int rc = uv_loop_close(&loop_); rc < 0)
		log(LogLevel::Error, "uv_loop_close: {}", uv_strerror(rc));
}

int Loop::run(uv_run_mode mode) noexcept
{
	return uv_run(&loop_, mode);
}

void Loop::stop() noexcept
{
	uv_stop(&loop_);
}

// ---- Handle

Handle::Handle(uv_handle_t *handle, uv_close_cb release)
	: handle_(handle), release_(release)
{
	handle_->data = this;
	try {
		enrol(handle_);
	} catch (...) {
		handle_->data = nullptr;
		uv_close(handle_, release_);
		throw;
	}
}

Handle::~Handle()
{
	close();
}

void Handle::close() noexcept
{
	if (!handle_)
		return;
	withdraw(handle_);
	handle_->data = nullptr;
	// A Stream may already be closing itself; its close callback frees the
	// memory then, seeing no owner.
	if (!uv_is_closing(handle_))
		uv_close(handle_, release_);
	handle_ = nullptr;
}

void Handle::released() noexcept
{
	if (handle_)
		withdraw(handle_);
	handle_ = nullptr;
}

uv_handle_t *Handle::open() const
{
	if (!handle_)
		throw std::logic_error("libuv handle used after close");
	return handle_;
}

// ---- Timer

Timer::Timer(uv_loop_t &loop, std::function<void()> onExpire)
	: Handle(detail::make<uv_timer_t>([&](uv_timer_t *t) { return uv_timer_init(&loop, t); }, "uv_timer_init"),
		 &detail::release<uv_timer_t>),
	  onExpire_(std::move(onExpire))
{
}

void Timer::start(std::chrono::milliseconds timeout, std::chrono::milliseconds repeat)
{
	check(uv_timer_start(live<uv_timer_t>(), &Timer::expired, millis(timeout), millis(repeat)),
	      "uv_timer_start");
}

void Timer::stop() noexcept
{
	if (uv_timer_t *timer = maybe<uv_timer_t>())
		uv_timer_stop(timer);
}

bool Timer::active() const noexcept
{
	const uv_timer_t *timer = maybe<uv_timer_t>();
	return timer && uv_is_active(reinterpret_cast<const uv_handle_t *>(timer));
}

void Timer::expired(uv_timer_t *timer) noexcept
{
	// The callback may destroy the owner: nothing touches it afterwards.
	if (Timer *self = owner<Timer>(timer))
		guarded("timer callback", self->onExpire_);
}

// ---- Signal

Signal::Signal(uv_loop_t &loop, int signum, std::function<void()> onSignal)
	: Handle(detail::make<uv_signal_t>([&](uv_signal_t *s) { return uv_signal_init(&loop, s); }, "uv_signal_init"),
		 &detail::release<uv_signal_t>),
	  onSignal_(std::move(onSignal))
{
	check(uv_signal_start(live<uv_signal_t>(), &Signal::received, signum), "uv_signal_start");
}

void Signal::received(uv_signal_t *signal, int) noexcept
{
	if (Signal *self = owner<Signal>(signal))
		guarded("signal callback", self->onSignal_);
}

// ---- Poll

Poll::Poll(uv_loop_t &loop, int fd, std::function<void(int status, int events)> onEvent)
	: Handle(detail::make<uv_poll_t>([&](uv_poll_t *p) { return uv_poll_init(&loop, p, fd); }, "uv_poll_init"),
		 &detail::release<uv_poll_t>),
	  fd_(fd),
	  onEvent_(std::move(onEvent))
{
}

void Poll::start(int events)
{
	check(uv_poll_start(live<uv_poll_t>(), events, &Poll::ready), "uv_poll_start");
}

void Poll::stop() noexcept
{
	if (uv_poll_t *poll = maybe<uv_poll_t>())
		uv_poll_stop(poll);
}

bool Poll::active() const noexcept
{
	const uv_poll_t *poll = maybe<uv_poll_t>();
	return poll && uv_is_active(reinterpret_cast<const uv_handle_t *>(poll));
}

void Poll::ready(uv_poll_t *poll, int status, int events) noexcept
{
	if (Poll *self = owner<Poll>(poll))
		guarded("poll callback", self->onEvent_, status, events);
}

// ---- Stream

namespace {

// A write's bytes live here until libuv reports the write done.
struct WriteRequest {
	uv_write_t request{};
	std::string data;
};

} // namespace

Stream::Stream(uv_loop_t &loop)
	: Handle(detail::make<uv_pipe_t>([&](uv_pipe_t *p) { return uv_pipe_init(&loop, p, 0); }, "uv_pipe_init"),
		 &detail::release<uv_pipe_t>)
{
}

void Stream::setOnData(std::function<void(std::string_view)> onData)
{
	onData_ = std::move(onData);
	if (closed() || closing_ || reading_)
		return;
	if (const int rc = uv_read_start(live<uv_stream_t>(), &Stream::allocate, &Stream::read); rc < 0) {
		log(LogLevel::Debug, "cannot read from a stream: {}", uv_strerror(rc));
		finish();
		return;
	}
	reading_ = true;
}

void Stream::setOnClose(std::function<void()> onClose)
{
	onClose_ = std::move(onClose);
}

bool Stream::write(std::string data)
{
	if (closed() || closing_)
		return false;
	if (data.empty())
		return true;
	if (data.size() > UINT_MAX)
		throw std::length_error("stream write too large");
	auto request = std::make_unique<WriteRequest>();
	request->data = std::move(data);
	request->request.data = request.get();
	const uv_buf_t buf = uv_buf_init(request->data.data(), static_cast<unsigned>(request->data.size()));
	// libuv reports even an immediate write from the loop, never from here.
	if (const int rc = uv_write(&request->request, live<uv_stream_t>(), &buf, 1, &Stream::written); rc < 0) {
		log(LogLevel::Debug, "cannot write to a stream: {}", uv_strerror(rc));
		finish();
		return false;
	}
	request.release();
	return true;
}

void Stream::shutdownAndClose() noexcept
{
	if (closed() || closing_)
		return;
	closing_ = true;
	uv_stream_t *stream = maybe<uv_stream_t>();
	uv_read_stop(stream);
	reading_ = false;
	const bool ran = guarded("stream shutdown", [&] {
		auto request = std::make_unique<uv_shutdown_t>();
		// The shutdown completes after every queued write.
		if (const int rc = uv_shutdown(request.get(), stream, &Stream::shutDown); rc < 0) {
			log(LogLevel::Debug, "cannot shut a stream down: {}", uv_strerror(rc));
			finish();
			return;
		}
		request.release();
	});
	if (!ran)
		finish();
}

std::size_t Stream::writeQueueSize() const noexcept
{
	const uv_stream_t *stream = maybe<uv_stream_t>();
	return stream ? uv_stream_get_write_queue_size(stream) : 0;
}

std::optional<uid_t> Stream::peerUid() const noexcept
{
	const uv_stream_t *stream = maybe<uv_stream_t>();
	uv_os_fd_t fd;
	if (!stream || uv_fileno(reinterpret_cast<const uv_handle_t *>(stream), &fd) != 0)
		return std::nullopt;
	ucred cred{};
	socklen_t length = sizeof cred;
	if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &length) != 0 || length != sizeof cred)
		return std::nullopt;
	return cred.uid;
}

void Stream::finish() noexcept
{
	uv_handle_t *handle = maybe<uv_handle_t>();
	if (!handle || uv_is_closing(handle))
		return;
	closing_ = true;
	reading_ = false;
	// Keeps data pointing at the owner so the close callback can tell it.
	uv_close(handle, &Stream::finished);
}

void Stream::allocate(uv_handle_t *handle, std::size_t, uv_buf_t *buf) noexcept
{
	Stream *self = owner<Stream>(handle);
	// An empty buffer makes libuv report UV_ENOBUFS, which read() ignores.
	*buf = self ? uv_buf_init(self->buffer_.data(), self->buffer_.size()) : uv_buf_init(nullptr, 0);
}

void Stream::read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) noexcept
{
	Stream *self = owner<Stream>(stream);
	if (!self || nread == 0)
		return;
	if (nread > 0) {
		// May destroy the Stream: nothing touches it afterwards.
		if (self->onData_)
			guarded("stream data callback", self->onData_,
				std::string_view(buf->base, static_cast<std::size_t>(nread)));
		return;
	}
	if (nread == UV_EOF) {
		// The peer may have half-closed and still wait for our answer.
		self->shutdownAndClose();
		return;
	}
	log(LogLevel::Debug, "stream read: {}", uv_strerror(static_cast<int>(nread)));
	self->finish();
}

void Stream::written(uv_write_t *request, int status) noexcept
{
	const std::unique_ptr<WriteRequest> owned(static_cast<WriteRequest *>(request->data));
	// Cancelled writes belong to a stream that is closing already.
	if (status >= 0 || status == UV_ECANCELED)
		return;
	// The handle's memory lives until its close callback, after this one.
	if (Stream *self = owner<Stream>(request->handle)) {
		log(LogLevel::Debug, "stream write: {}", uv_strerror(status));
		self->finish();
	}
}

void Stream::shutDown(uv_shutdown_t *request, int) noexcept
{
	const std::unique_ptr<uv_shutdown_t> owned(request);
	if (Stream *self = owner<Stream>(request->handle))
		self->finish();
}

void Stream::finished(uv_handle_t *handle) noexcept
{
	Stream *self = owner<Stream>(handle);
	if (self)
		self->released();
	detail::release<uv_pipe_t>(handle);
	if (!self || !self->onClose_)
		return;
	// It fires once; held here, it survives the Stream being destroyed by it.
	const std::function<void()> onClose = std::move(self->onClose_);
	guarded("stream close callback", onClose);
}

// ---- UnixServer

UnixServer::UnixServer(uv_loop_t &loop, std::string path,
		       std::function<void(std::unique_ptr<Stream>)> onConnection)
	: Handle(detail::make<uv_pipe_t>([&](uv_pipe_t *p) { return uv_pipe_init(&loop, p, 0); }, "uv_pipe_init"),
		 &detail::release<uv_pipe_t>),
	  path_(std::move(path)),
	  onConnection_(std::move(onConnection))
{
	// libuv would silently truncate a long path and bind somewhere else.
	if (path_.empty() || path_.size() >= sizeof(sockaddr_un::sun_path))
		throw std::invalid_argument("unusable socket path: " + path_);
	removeStale(path_);
	// Once bound, closing the handle unlinks the path (libuv does so in
	// uv_close), also when the steps below throw.
	check(uv_pipe_bind(live<uv_pipe_t>(), path_.c_str()), "bind " + path_);
	if (::chmod(path_.c_str(), 0666) != 0)
		throw std::system_error(errno, std::generic_category(), "chmod " + path_);
	check(uv_listen(live<uv_stream_t>(), 128, &UnixServer::connected), "listen on " + path_);
}

void UnixServer::connected(uv_stream_t *server, int status) noexcept
{
	UnixServer *self = owner<UnixServer>(server);
	if (!self)
		return;
	if (status < 0) {
		log(LogLevel::Warning, "accept on {}: {}", self->path_, uv_strerror(status));
		return;
	}
	guarded("accept", [&] {
		std::unique_ptr<Stream> stream(new Stream(*server->loop));
		check(uv_accept(server, stream->live<uv_stream_t>()), "accept");
		// May destroy the server: nothing touches it afterwards.
		self->onConnection_(std::move(stream));
	});
}

} // namespace dmdns::uv
