// RAII owners of a libuv loop and its handles; handle memory outlives its owner until libuv's close callback.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <sys/types.h>

#include <uv.h>

#include "uv/clock.h"

namespace dmdns::uv {

// Throws std::system_error (generic category) when a libuv call failed.
void check(int status, std::string_view what);

// Owns a uv_loop_t. Destroy every handle owner first; whatever is still
// open then is closed here, so nothing leaks either way.
class Loop final
{
public:
	Loop();
	// Closes the handles still open (their owners become inert), runs the
	// loop until every close callback ran, then closes the loop.
	~Loop();

	Loop(const Loop &) = delete;
	Loop &operator=(const Loop &) = delete;

	uv_loop_t &get() noexcept { return loop_; }
	// uv_run's result: non-zero if stopped while handles are still active.
	int run(uv_run_mode mode = UV_RUN_DEFAULT) noexcept;
	// run() returns after the current iteration.
	void stop() noexcept;

private:
	uv_loop_t loop_{};
};

// What every handle owner shares. The uv handle is heap memory that libuv
// frees in its close callback, so an owner may be destroyed at any time on
// the loop's thread, from inside its own callback too; once closed or
// destroyed, none of its callbacks runs again. Owners are neither copied
// nor moved: callbacks hold on to them.
class Handle
{
public:
	Handle(const Handle &) = delete;
	Handle &operator=(const Handle &) = delete;

	// Closes the handle now; the owner becomes inert (stop() does nothing,
	// start() and the like throw std::logic_error). Does nothing twice.
	void close() noexcept;
	bool closed() const noexcept { return handle_ == nullptr; }

protected:
	// Adopts @handle, which a uv_*_init call initialised; @release frees
	// its memory from the close callback.
	Handle(uv_handle_t *handle, uv_close_cb release);
	~Handle();

	// The open handle; throws std::logic_error once closed.
	template <typename T>
	T *live() const
	{
		return reinterpret_cast<T *>(open());
	}
	template <typename T>
	T *maybe() const noexcept
	{
		return reinterpret_cast<T *>(handle_);
	}
	// The owner a libuv callback belongs to, or nullptr once it let go.
	template <typename Owner, typename T>
	static Owner *owner(const T *handle) noexcept
	{
		return static_cast<Owner *>(static_cast<Handle *>(handle->data));
	}
	// Forgets the handle after libuv closed it on the owner's behalf.
	void released() noexcept;

private:
	uv_handle_t *open() const;

	uv_handle_t *handle_;
	uv_close_cb release_;
};

// A one-shot or repeating timer on the loop's monotonic millisecond clock.
class Timer final : public Handle, public Alarm
{
public:
	Timer(uv_loop_t &loop, std::function<void()> onExpire);

	// (Re)starts; negative durations count as zero. With @repeat zero the
	// timer fires once.
	void start(std::chrono::milliseconds timeout, std::chrono::milliseconds repeat = {}) override;
	void stop() noexcept override;
	bool active() const noexcept;

private:
	static void expired(uv_timer_t *timer) noexcept;

	std::function<void()> onExpire_;
};

// Runs @onSignal on the loop whenever @signum arrives, from construction on.
class Signal final : public Handle
{
public:
	Signal(uv_loop_t &loop, int signum, std::function<void()> onSignal);

private:
	static void received(uv_signal_t *signal, int signum) noexcept;

	std::function<void()> onSignal_;
};

// Readiness of a file descriptor the caller keeps owning. libuv allows one
// uv_poll_t per fd and loop (a second throws with EEXIST) and makes the fd
// non-blocking. Close the Poll before closing the fd.
class Poll final : public Handle
{
public:
	// @onEvent gets a negative libuv status on error (libuv then stopped
	// the poll) or 0 and the UV_READABLE/UV_WRITABLE/UV_DISCONNECT events.
	Poll(uv_loop_t &loop, int fd, std::function<void(int status, int events)> onEvent);

	// Replaces the events polled for.
	void start(int events);
	void stop() noexcept;
	bool active() const noexcept;
	int fd() const noexcept { return fd_; }

private:
	static void ready(uv_poll_t *poll, int status, int events) noexcept;

	int fd_;
	std::function<void(int, int)> onEvent_;
};

// A connected stream socket (from UnixServer). Reading starts with
// setOnData(). onClose fires once, from the loop, when the stream ends by
// itself: the peer finished sending (pending writes are flushed first), an
// error, or shutdownAndClose() completed; it may destroy the Stream. It
// does not fire for close() or destruction by the owner.
class Stream final : public Handle
{
public:
	void setOnData(std::function<void(std::string_view)> onData);
	void setOnClose(std::function<void()> onClose);

	// Queues a copy of @data, kept until written. False once the stream is
	// closing or closed: the data is dropped.
	bool write(std::string data);
	// Stops reading, flushes pending writes, then closes.
	void shutdownAndClose() noexcept;
	// Bytes queued but not yet handed to the kernel.
	std::size_t writeQueueSize() const noexcept;
	// The user id of the process at the other end (SO_PEERCRED), as the
	// kernel vouches for it; nullopt once closed or if unknown.
	std::optional<uid_t> peerUid() const noexcept;

private:
	friend class UnixServer;

	explicit Stream(uv_loop_t &loop);

	static void allocate(uv_handle_t *handle, std::size_t suggested, uv_buf_t *buf) noexcept;
	static void read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) noexcept;
	static void written(uv_write_t *request, int status) noexcept;
	static void shutDown(uv_shutdown_t *request, int status) noexcept;
	static void finished(uv_handle_t *handle) noexcept;
	// Closes and fires onClose from the close callback, never re-entrantly.
	void finish() noexcept;

	std::function<void(std::string_view)> onData_;
	std::function<void()> onClose_;
	bool reading_ = false;
	bool closing_ = false;
	std::array<char, 16384> buffer_;
};

// Listens on a Unix-domain stream socket at @path, mode 0666 so that any
// local user may connect. A stale socket file is replaced; a live one (a
// server answers) or a non-socket file makes the constructor throw. The
// path is unlinked when the server closes.
class UnixServer final : public Handle
{
public:
	// @onConnection takes ownership of each accepted stream.
	UnixServer(uv_loop_t &loop, std::string path,
		   std::function<void(std::unique_ptr<Stream>)> onConnection);

	const std::string &path() const noexcept { return path_; }

private:
	static void connected(uv_stream_t *server, int status) noexcept;

	std::string path_;
	std::function<void(std::unique_ptr<Stream>)> onConnection_;
};

} // namespace dmdns::uv
