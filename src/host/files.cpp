// Bounded reads of small files such as those under /proc and /sys.
#include "host/files.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace dmdns::host {

void UniqueFd::reset(int fd) noexcept
{
	if (fd_ >= 0)
		::close(fd_);
	fd_ = fd;
}

std::optional<FileText> readBounded(const std::string &path, std::size_t maxBytes)
{
	// O_NONBLOCK: a FIFO planted where a file is expected must not hang us.
	UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
	if (fd.get() < 0)
		return std::nullopt;

	FileText file;
	// One byte more than allowed tells a file of exactly maxBytes from a longer one.
	const std::size_t limit = maxBytes + 1;
	std::size_t chunk = 4096;
	while (file.text.size() < limit) {
		const std::size_t used = file.text.size();
		const std::size_t want = std::min(chunk, limit - used);
		file.text.resize(used + want);
		const ssize_t n = ::read(fd.get(), file.text.data() + used, want);
		if (n < 0) {
			if (errno == EINTR) {
				file.text.resize(used);
				continue;
			}
			return std::nullopt;
		}
		file.text.resize(used + static_cast<std::size_t>(n));
		if (n == 0)
			break;
		chunk = std::min<std::size_t>(chunk * 2, 1u << 20);
	}
	if (file.text.size() > maxBytes) {
		file.text.resize(maxBytes);
		file.truncated = true;
	}
	return file;
}

std::string_view wholeLines(const FileText &file) noexcept
{
	std::string_view text = file.text;
	if (file.truncated) {
		const auto newline = text.rfind('\n');
		text = newline == std::string_view::npos ? std::string_view{} : text.substr(0, newline + 1);
	}
	return text;
}

std::optional<MappedFile> MappedFile::open(const std::string &path, std::size_t maxBytes)
{
	UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW));
	struct stat st;
	if (fd.get() < 0 || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 0 ||
	    static_cast<std::uintmax_t>(st.st_size) > maxBytes)
		return std::nullopt;
	const auto size = static_cast<std::size_t>(st.st_size);
	if (size == 0)
		return MappedFile(nullptr, 0);
	void *data = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd.get(), 0);
	if (data == MAP_FAILED)
		return std::nullopt;
	return MappedFile(data, size);
}

MappedFile &MappedFile::operator=(MappedFile &&other) noexcept
{
	if (this != &other) {
		if (data_)
			::munmap(data_, size_);
		data_ = std::exchange(other.data_, nullptr);
		size_ = std::exchange(other.size_, 0);
	}
	return *this;
}

MappedFile::~MappedFile()
{
	if (data_)
		::munmap(data_, size_);
}

std::optional<std::string> readLink(const std::string &path)
{
	char buffer[PATH_MAX];
	const ssize_t n = ::readlink(path.c_str(), buffer, sizeof buffer);
	if (n < 0 || static_cast<std::size_t>(n) >= sizeof buffer)
		return std::nullopt;
	return std::string(buffer, static_cast<std::size_t>(n));
}

} // namespace dmdns::host
