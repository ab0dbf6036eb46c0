// Keeps a distcc hosts file current, so that every compile of a running build reads fresh picks.
#include "hosts_file.h"

#include <cerrno>
#include <cstdio>
#include <system_error>

#include <fcntl.h>
#include <unistd.h>

#include "log.h"

namespace dmdns {

void writeAtomically(const std::string &path, const std::string &content)
{
	const std::string temporary = path + ".tmp." + std::to_string(::getpid());
	auto fail = [&](const std::string &what) {
		const int error = errno;
		::unlink(temporary.c_str());
		throw std::system_error(error, std::generic_category(), what);
	};
	const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		fail("cannot create " + temporary);
	std::size_t done = 0;
	while (done < content.size()) {
		const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			::close(fd);
			fail("cannot write " + temporary);
		}
		done += static_cast<std::size_t>(n);
	}
	if (::close(fd) != 0)
		fail("cannot write " + temporary);
	if (::rename(temporary.c_str(), path.c_str()) != 0)
		fail("cannot replace " + path);
}

HostsFileKeeper::HostsFileKeeper(uv_loop_t &loop, std::string path, std::chrono::milliseconds interval, Line line)
	: path_(std::move(path)), line_(std::move(line)), timer_(loop, [this] { refresh(); })
{
	written_ = line_() + "\n";
	writeAtomically(path_, written_);
	++writes_;
	log(LogLevel::Info, "hosts file {}: {}", path_, written_.substr(0, written_.size() - 1));
	timer_.start(interval, interval);
}

void HostsFileKeeper::refresh()
{
	std::string content = line_() + "\n";
	if (content == written_)
		return;
	try {
		writeAtomically(path_, content);
		++writes_;
		log(LogLevel::Debug, "hosts file {}: {}", path_, content.substr(0, content.size() - 1));
		written_ = std::move(content);
	} catch (const std::system_error &e) {
		log(LogLevel::Warning, "hosts file: {}", e.what());
	}
}

} // namespace dmdns
