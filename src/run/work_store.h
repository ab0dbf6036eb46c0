// Where distcc-mdns-run keeps the work of each compile between builds: a file in the user's cache directory.
#pragma once

#include <optional>

#include "distcc-mdns/work_history.h"
#include "host/safe_dir.h"

namespace dmdns::run {

// $XDG_CACHE_HOME/distcc-mdns/works, else ~/.cache/distcc-mdns/works: the
// user's own (every directory on the way as SafeDir checks them, the last
// one and the file owned by this user), read whole at the start and
// changed by rename at the end under a lock, so that builds that end
// together lose nothing of each other's.
class WorkStore final
{
public:
	// nullopt (logged) when there is no usable directory: the build runs
	// as ever, it only remembers nothing.
	static std::optional<WorkStore> open();

	// What the file holds; empty (logged) when it cannot be read.
	WorkHistory load() const;
	// Adds what this build @measured to what the file holds now.
	void save(const WorkHistory &measured) const;

private:
	explicit WorkStore(host::SafeDir dir)
		: dir_(std::move(dir))
	{
	}

	host::SafeDir dir_;
};

} // namespace dmdns::run
