// The build command as a child process: started with the jobserver fds, waited for, signalled.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace dmdns::run {

class Child final
{
public:
	// fork+exec @argv (searched in PATH of @env, as execvpe does) with
	// @env (the whole environment), keeping @inheritFds open in the child;
	// the child stays in the runner's process group and terminal (Ctrl-C
	// reaches the whole build from the terminal itself); stdin/out/err
	// unchanged. Signal dispositions and mask are reset to the defaults in
	// the child. Throws std::system_error when the program cannot be run
	// (the exec's errno, reported back through a CLOEXEC pipe).
	Child(const std::vector<std::string> &argv, const std::vector<std::string> &env, const std::vector<int> &inheritFds);
	// Does not wait: a runner that drops its Child has reported its end.
	~Child() = default;
	Child(const Child &) = delete;
	Child &operator=(const Child &) = delete;

	pid_t pid() const;
	// Non-blocking: the wait status once it has exited.
	std::optional<int> poll();
	// Blocks up to @timeout (less when a caught signal interrupts it);
	// nullopt if still running.
	std::optional<int> wait(std::chrono::milliseconds timeout);
	// Forward a signal (SIGTERM/SIGHUP sent to the runner alone) to the
	// child; nothing once it has been reaped.
	void signal(int sig);

private:
	pid_t pid_ = -1;
	std::optional<int> status_;
};

// The build's orphans. A recipe's shell killed by make on SIGTERM leaves
// its own children (a compiler, a `sleep`) running, orphaned, holding the
// terminal and the caller's pipes. As the children's subreaper
// (PR_SET_CHILD_SUBREAPER, Linux 3.4) the runner inherits them instead of
// init, and can end them before it exits as the build did.
//
// Makes this process the subreaper of its descendants; false if the kernel
// refuses.
bool becomeSubreaper();
// Reaps every exited child but @keep (left for Child::poll); never blocks.
void reapOrphans(pid_t keep);
// This process's live children (from /proc/PID/stat), zombies left out.
std::vector<pid_t> children();
// Ends what this process inherited as subreaper: @sig to each child it now
// has, and to their children as they are orphaned in turn; SIGKILL to what
// is left after 2 s; every child reaped. Woken by SIGCHLD through @sigfd (a
// signalfd holding it; what else it holds is read and dropped). Bounded:
// returns after 3 s whatever is left. Call only once the Child objects
// that matter have their status: this reaps every child.
void endOrphans(int sigfd, int sig);

// The runner's exit code for a child wait status: the child's code, or
// 128+signal for a child killed by a signal (the runner re-raises that
// signal itself when it can; this is the code otherwise).
int exitCodeOf(int waitStatus);
// Exits as a child with @waitStatus did: its code, or the same signal with
// the default action, so that this process's parent sees the same death.
[[noreturn]] void exitAs(int waitStatus);

} // namespace dmdns::run
