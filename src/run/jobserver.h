// The GNU make jobserver a build runs under: one named FIFO whose tokens the runner adds and takes back.
#pragma once

#include <string>
#include <string_view>

namespace dmdns::run {

// One pool of tokens for one build. The FIFO lives in a private directory
// (mkdtemp, 0700) under $TMPDIR, else /tmp; other users cannot open it.
// The runner keeps its own non-blocking open file to count idle tokens
// (FIONREAD) and take them back, and a second, blocking open file whose fds
// the build inherits: make 4.3 sets O_NONBLOCK on the inherited file, which
// therefore must not be the runner's.
//
// Tokens are never taken from a running job: shrinking takes only idle
// tokens out of the pipe, now and at every later refresh(), so tokens that
// come back from finished jobs above the target are kept.
class Jobserver final
{
public:
	// Most tokens a pool holds: a pipe holds 64 KiB, and one page once
	// pipe-user-pages-soft is reached; 4096 one-byte tokens fit one page.
	static constexpr unsigned MaxTokens = 4096;

	// Creates the FIFO and opens both ends. No tokens yet. Throws
	// std::system_error when the directory or the FIFO cannot be made.
	Jobserver();
	// Closes both ends and removes the FIFO and its directory.
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
	// back out of the pipe, now and at every later refresh(). Clamped to
	// MaxTokens.
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

	// The fds the child must inherit (not CLOEXEC in the child): read, write.
	// Both refer to the build's blocking open file of the FIFO.
	int readFd() const;
	int writeFd() const;
	const std::string &fifoPath() const;

	// At the end: tokens that never came back (lost to a killed job), for a
	// warning. Meaningful once the build has exited: issued - idle.
	unsigned lost() const;

private:
	void close() noexcept;
	// Reads up to @count idle tokens out of the pipe; returns how many.
	unsigned takeBack(unsigned count);
	unsigned idleNow() const;

	std::string dir_;
	std::string path_;
	int own_ = -1;	      // the runner's non-blocking end: counts and takes back
	int child_ = -1;      // the build's blocking open file: the read fd
	int childWrite_ = -1; // a dup of it: the write fd
	unsigned target_ = 0;
	unsigned issued_ = 0;
};

} // namespace dmdns::run
