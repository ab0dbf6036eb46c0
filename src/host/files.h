// Bounded reads of small files such as those under /proc and /sys.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace dmdns::host {

// Owns a file descriptor and closes it on every way out.
class UniqueFd final
{
public:
	explicit UniqueFd(int fd = -1) noexcept
		: fd_(fd) { }
	~UniqueFd() { reset(); }
	UniqueFd(UniqueFd &&other) noexcept
		: fd_(other.release()) { }
	UniqueFd &operator=(UniqueFd &&other) noexcept
	{
		if (this != &other)
			reset(other.release());
		return *this;
	}
	UniqueFd(const UniqueFd &) = delete;
	UniqueFd &operator=(const UniqueFd &) = delete;

	int get() const noexcept { return fd_; }
	void reset(int fd = -1) noexcept;
	// Gives up ownership without closing.
	int release() noexcept
	{
		const int fd = fd_;
		fd_ = -1;
		return fd;
	}

private:
	int fd_;
};

struct FileText {
	std::string text;
	bool truncated = false; // the file had more than the bound
};

// Reads at most @maxBytes of @path; empty if it cannot be opened or read.
// Reads until end of file rather than trusting st_size, which is 0 in /proc.
std::optional<FileText> readBounded(const std::string &path, std::size_t maxBytes);

// The whole lines of a possibly truncated text: a cut last line is dropped,
// since its remains could parse as something else.
std::string_view wholeLines(const FileText &file) noexcept;

// A regular file mapped read-only, for looking a few lines up in a big file
// without reading it all. Only for files replaced by rename, never truncated
// in place: a mapping of a file cut shorter faults on the lost pages.
class MappedFile final
{
public:
	// nullopt unless @path is a regular file (no symlink followed) of at
	// most @maxBytes that can be mapped.
	static std::optional<MappedFile> open(const std::string &path, std::size_t maxBytes);

	MappedFile(MappedFile &&other) noexcept
		: data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) { }
	MappedFile &operator=(MappedFile &&other) noexcept;
	MappedFile(const MappedFile &) = delete;
	MappedFile &operator=(const MappedFile &) = delete;
	~MappedFile();

	std::string_view text() const noexcept { return { static_cast<const char *>(data_), size_ }; }

private:
	MappedFile(void *data, std::size_t size) noexcept
		: data_(data), size_(size) { }

	void *data_;
	std::size_t size_;
};

// The target of symbolic link @path, or empty.
std::optional<std::string> readLink(const std::string &path);

} // namespace dmdns::host
