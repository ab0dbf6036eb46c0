// Runs a short-lived helper program and captures its output, without a shell.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace dmdns::host {

struct CaptureLimits {
	std::chrono::milliseconds timeout{ 3000 }; // the whole run, output and exit
	std::size_t maxOutput = 256;		   // more stdout than this is a failure
};

// Runs @path with @argv (argv[0] included) and returns its stdout when it
// exits 0 within the limits; stdin and stderr are /dev/null. On timeout or
// excess output the child and its process group are killed and reaped.
// Blocks the calling thread for up to the timeout. The caller must not
// ignore SIGCHLD or reap children of others (waitpid(-1)).
std::optional<std::string> runCapture(const std::string &path, const std::vector<std::string> &argv,
				      const CaptureLimits &limits = {});

} // namespace dmdns::host
