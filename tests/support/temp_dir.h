// A temporary directory for a test, removed with everything in it.
#pragma once

#include <cerrno>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

#include <stdlib.h>

namespace dmdns::test {

class TempDir final
{
public:
	// Made by mkdtemp() (mode 0700) under the system's temporary
	// directory, then given @mode; throws std::system_error if it cannot be.
	explicit TempDir(std::filesystem::perms mode = std::filesystem::perms::owner_all)
	{
		namespace fs = std::filesystem;
		std::string pattern = (fs::temp_directory_path() / "dmdns-test-XXXXXX").string();
		if (!::mkdtemp(pattern.data()))
			throw std::system_error(errno, std::generic_category(), "mkdtemp " + pattern);
		path_ = pattern;
		fs::permissions(path_, mode);
	}
	~TempDir()
	{
		// A test may have taken its own rights away: give them back first.
		std::error_code ignored;
		std::filesystem::permissions(path_, std::filesystem::perms::owner_all,
					     std::filesystem::perm_options::add, ignored);
		std::filesystem::remove_all(path_, ignored);
	}
	TempDir(const TempDir &) = delete;
	TempDir &operator=(const TempDir &) = delete;

	const std::filesystem::path &path() const noexcept { return path_; }
	// The path of @name inside.
	std::string file(std::string_view name) const { return (path_ / name).string(); }
	std::string operator/(std::string_view name) const { return file(name); }

private:
	std::filesystem::path path_;
};

} // namespace dmdns::test
