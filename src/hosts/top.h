// distcc-mdns-hosts --top and --json --watch: the local daemon's watch stream, drawn or passed through.
#pragma once

#include <vector>

#include "client/daemon_socket.h"
#include "hosts/top_layout.h"

namespace dmdns::top {

enum class Output {
	Screen, // full screen (ncurses) when stdout is a terminal
	Plain,	// the same screen as plain lines, one frame per change
	Json	// each farm object as the daemon sent it, one a line
};

// Watches the first daemon of @candidates that answers "watch" until q (on
// the screen), the end of the stream or an error. Returns the exit status:
// kDaemonFailed, after a one-line error, when no daemon answers.
int run(const std::vector<client::Candidate> &candidates, Output output, SortKey sort);

} // namespace dmdns::top
