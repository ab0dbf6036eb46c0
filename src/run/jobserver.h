// The GNU make jobserver a build runs under: one named FIFO whose tokens the runner adds and takes back.
#pragma once

#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace dmdns::run {

// One pool of tokens for one build. The FIFO lives in a private directory
// (mkdtemp, 0700) under $TMPDIR, else /tmp; other users cannot open it.
// The runner keeps its own non-blocking open file to count idle tokens
// (FIONREAD) and take them back, and a second, blocking open file whose fd
// the build inherits to read tokens: make 4.3 sets O_NONBLOCK on the
// inherited file, which therefore must not be the runner's.
//
// Tokens are never taken from a running job: shrinking takes only idle
// tokens out of the pipe, and keeps tokens as they come back from jobs while
// more are out than the target. make takes a token it has just returned
// again within microseconds, so a runner that reads the pipe, even one woken
// by poll() the moment a token lands, rarely gets one (tried with make 4.3
// and 1 s recipes: 8 at once fell to a target of 2 only after 1-6 s; every
// 10 ms: not at all). Hence the R,W form splits the two directions: the build reads
// tokens from the FIFO but returns them into a separate pipe (writeFd()),
// and a thread of the Jobserver forwards each returned token to the FIFO,
// or keeps it while more are out than the target: shrinking is exact, at
// the first job that ends. Fifo-form clients (make 4.4, ninja 1.13) return
// tokens into the FIFO itself; for them the thread races to read returned
// tokens while some are held back.
class Jobserver final
{
public:
	// Most tokens a pool holds: a pipe holds 64 KiB, and one page once
	// pipe-user-pages-soft is reached; 4096 one-byte tokens fit one page.
	static constexpr unsigned MaxTokens = 4096;

	// Creates the FIFO and opens both ends. No tokens yet. Throws
	// std::system_error when the directory or the FIFO cannot be made.
	Jobserver();
	// Stops the thread, closes every fd and removes the FIFO and its directory.
	~Jobserver();
	Jobserver(const Jobserver &) = delete;
	Jobserver &operator=(const Jobserver &) = delete;

	struct Status {
		unsigned target = 0;   // tokens the build should have, the implicit one excluded
		unsigned issued = 0;   // tokens out: in the pipe or held by running jobs (never more than the pipe allows)
		unsigned idle = 0;     // in the pipe now (FIONREAD): no job waits for them
		unsigned inUse = 0;    // issued - idle: jobs running besides the implicit one
		unsigned heldBack = 0; // issued above target that still run (will be kept when they come back)
	};

	// Grows at once by writing tokens; shrinks only by taking idle tokens
	// back out of the pipe now, and returned ones as they come back (the
	// thread, and every refresh()). Clamped to MaxTokens.
	void setTarget(unsigned tokens);
	// Reads FIONREAD, takes excess idle tokens back, returns the ledger.
	Status refresh();

	// How the child is told of the pool in MAKEFLAGS.
	//  Pipe: --jobserver-auth=R,W (make 4.3 and older clients).
	//  Fifo: --jobserver-auth=fifo:PATH (make 4.4, ninja 1.13).
	//  Both: the fifo word first, the R,W form last (make takes the last
	//        word; make 4.3 stops on a lone fifo: word).
	enum class Style {
		Pipe,
		Fifo,
		Both
	};
	// The MAKEFLAGS value for the child: @inherited with any
	// --jobserver-auth/--jobserver-fds/-j/-jN words removed, plus the auth
	// words for @style, placed before the " -- " that starts variable
	// assignments.
	std::string makeflags(std::string_view inherited, Style style) const;

	// The fds the child must inherit (not CLOEXEC in the child): read (the
	// build's blocking open file of the FIFO) and write (the return pipe).
	// Both are CLOEXEC in the runner.
	int readFd() const;
	int writeFd() const;
	const std::string &fifoPath() const;

	// At the end: tokens that never came back (lost to a killed job), for a
	// warning. Meaningful once the build has exited: issued - idle - the
	// returns not yet forwarded.
	unsigned lost() const;

private:
	void close() noexcept;
	// The thread: forwards or keeps returned tokens until told to stop.
	void forward();
	// With mutex_ held: reads up to @count idle tokens out of the FIFO.
	unsigned takeBack(unsigned count);
	// With mutex_ held: writes @count tokens; returns how many fit.
	unsigned put(unsigned count);
	// With mutex_ held: moves returned tokens from the return pipe to the
	// FIFO, keeping those above the target, and takes idle ones above it.
	void settle();
	void wake() noexcept;
	unsigned pending(int fd) const;

	std::string dir_;
	std::string path_;
	int own_ = -1;	       // the runner's non-blocking open file of the FIFO: counts, writes, takes back
	int child_ = -1;       // the build's blocking open file of the FIFO: the read fd
	int returnRead_ = -1;  // the return pipe's read end (the thread's, non-blocking)
	int returnWrite_ = -1; // the return pipe's write end: the build's write fd
	int wake_ = -1;	       // eventfd: a new target or the end, for the thread

	mutable std::mutex mutex_;
	bool stop_ = false;
	unsigned target_ = 0;
	unsigned issued_ = 0;
	std::thread thread_;
};

} // namespace dmdns::run
