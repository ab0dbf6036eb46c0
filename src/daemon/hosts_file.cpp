// Keeps a distcc hosts file current, so that every compile of a running build reads fresh picks.
#include "daemon/hosts_file.h"

#include <fmt/format.h>

#include "common/log.h"

namespace dmdns {

namespace {

// The file's directory, made when missing at start (mode 0755, given to its
// parent's owner, through the parent's descriptor): distcc makes ~/.distcc
// only when it first runs, and a daemon started before that must neither
// give up nor wait in the background while distcc builds locally.
host::SafeDir openDir(const std::string &dir)
{
	try {
		return host::SafeDir::open(dir);
	} catch (const host::PathError &e) {
		if (e.refused() || e.code() != std::errc::no_such_file_or_directory)
			throw;
		const auto [parent, name] = host::splitFilePath(dir);
		host::SafeDir made = host::SafeDir::open(parent).subdir(name);
		log(LogLevel::Info, "created {} for the hosts file", dir);
		return made;
	}
}

} // namespace

void writeAtomically(const std::string &path, const std::string &content)
{
	const auto [dir, name] = host::splitFilePath(path);
	host::SafeDir::open(dir).replace(name, content);
}

HostsFileKeeper::HostsFileKeeper(uv_loop_t &loop, std::string path, std::chrono::milliseconds interval, Line line)
	: path_(std::move(path)), line_(std::move(line)), faults_("hosts file " + path_),
	  timer_(loop, [this] { refresh(); })
{
	std::tie(dir_, name_) = host::splitFilePath(path_);
	try {
		openDir(dir_);
	} catch (const host::PathError &e) {
		// Missing and not to be made: said once, at start, rather than
		// retried in the background while distcc quietly builds locally.
		if (!e.refused())
			throw host::PathError(e.code().value(), false,
					      fmt::format("hosts file {}: {}; create the directory or choose another "
							  "--hosts-file",
							  path_, e.what()));
	}
	refresh();
	timer_.start(interval, interval);
}

void HostsFileKeeper::refresh()
{
	std::string content = line_() + "\n";
	try {
		// A directory deleted later is not made again, only waited for:
		// the user removed it on purpose, and says when it is back.
		const host::SafeDir dir = host::SafeDir::open(dir_);
		// Compared every time, not only when the line changes: a file
		// deleted or replaced behind our back is written again.
		if (content == written_ && file_ && dir.identity(name_) == file_) {
			faults_.succeeded();
			return;
		}
		file_ = dir.replace(name_, content);
		++writes_;
		log(writes_ == 1 ? LogLevel::Info : LogLevel::Debug, "hosts file {}: {}", path_,
		    content.substr(0, content.size() - 1));
		written_ = std::move(content);
		faults_.succeeded();
	} catch (const host::PathError &e) {
		file_.reset();
		faults_.failed(e);
	}
}

} // namespace dmdns
