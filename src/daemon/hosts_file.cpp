// Keeps a distcc hosts file current, so that every compile of a running build reads fresh picks.
#include "daemon/hosts_file.h"

#include "common/log.h"

namespace dmdns {

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
	refresh();
	timer_.start(interval, interval);
}

void HostsFileKeeper::refresh()
{
	std::string content = line_() + "\n";
	try {
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
