// Serves stock distcc's +zeroconf: keeps its hosts file in $DISTCC_DIR/zeroconf with our picks.
#include "zeroconf_compat.h"

#include <cerrno>
#include <cstring>
#include <sstream>
#include <system_error>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hosts_file.h"
#include "log.h"

namespace dmdns {

ZeroconfCompat::ZeroconfCompat(uv_loop_t &loop, std::string distccDir, std::chrono::milliseconds interval, Line line)
	: dir_(distccDir + "/zeroconf"), line_(std::move(line)), timer_(loop, [this] { refresh(); })
{
	struct stat st {};
	if (::stat(distccDir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
		throw std::system_error(errno ? errno : ENOTDIR, std::generic_category(),
					"--zeroconf-compat: no directory " + distccDir);
	owner_ = st.st_uid;
	group_ = st.st_gid;
	if (::mkdir(dir_.c_str(), 0755) != 0 && errno != EEXIST)
		throw std::system_error(errno, std::generic_category(), "cannot create " + dir_);
	giveToOwner(dir_);
	refresh();
	timer_.start(interval, interval);
}

ZeroconfCompat::~ZeroconfCompat()
{
	if (lockFd_ >= 0)
		::close(lockFd_);
}

void ZeroconfCompat::giveToOwner(const std::string &path) const
{
	// Only root can, and only root needs to: a daemon running as the user
	// creates the files as the user already.
	if (::geteuid() == 0 && ::chown(path.c_str(), owner_, group_) != 0)
		log(LogLevel::Warning, "cannot give {} to uid {}: {}", path, owner_, std::strerror(errno));
}

bool ZeroconfCompat::takeLock()
{
	const std::string path = dir_ + "/lock";
	const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	if (fd < 0) {
		log(LogLevel::Warning, "cannot open {}: {}", path, std::strerror(errno));
		return false;
	}
	giveToOwner(path);
	struct flock l {};
	l.l_type = F_WRLCK;
	l.l_whence = SEEK_SET;
	if (::fcntl(fd, F_SETLK, &l) != 0) {
		// A stock browser runs; it stops when its file goes unused.
		::close(fd);
		return false;
	}
	lockFd_ = fd;
	log(LogLevel::Info, "holding {}: stock +zeroconf clients read our hosts", path);
	return true;
}

void ZeroconfCompat::refresh()
{
	if (lockFd_ < 0 && !takeLock())
		return;
	// The remote hosts only, one per line as the stock browser writes them:
	// the user's own line says where localhost goes. With no remote host,
	// localhost stays, so that a line of only +zeroconf compiles here
	// instead of failing with no hosts at all.
	std::istringstream words(line_());
	std::string content, local;
	for (std::string w; words >> w;) {
		if (!w.starts_with("localhost"))
			content += w + "\n";
		else
			local = w + "\n";
	}
	if (content.empty())
		content = local;
	if (content == written_)
		return;
	const std::string path = dir_ + "/hosts";
	try {
		writeAtomically(path, content);
		giveToOwner(path);
		written_ = std::move(content);
	} catch (const std::system_error &e) {
		log(LogLevel::Warning, "zeroconf hosts: {}", e.what());
	}
}

} // namespace dmdns
