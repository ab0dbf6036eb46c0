// Serves stock distcc's +zeroconf: keeps its hosts file in $DISTCC_DIR/zeroconf with our picks.
#include "daemon/zeroconf_compat.h"

#include <sstream>

#include <fcntl.h>

#include "common/log.h"

namespace dmdns {

ZeroconfCompat::ZeroconfCompat(uv_loop_t &loop, std::string distccDir, std::chrono::milliseconds interval, Line line,
			       uv::Clock *clock)
	: distccDir_(std::move(distccDir)), line_(std::move(line)), faults_("zeroconf files in " + distccDir_ + "/zeroconf"),
	  loopClock_(clock ? nullptr : std::make_unique<uv::LoopClock>(loop)),
	  timer_((clock ? *clock : *loopClock_).alarm([this] { refresh(); }))
{
	refresh();
	timer_->start(interval, interval);
}

bool ZeroconfCompat::takeLock(const host::SafeDir &dir)
{
	host::UniqueFd fd = dir.openFile("lock");
	struct flock l { };
	l.l_type = F_WRLCK;
	l.l_whence = SEEK_SET;
	if (::fcntl(fd.get(), F_SETLK, &l) != 0)
		return false; // a stock browser runs; it stops when its file goes unused
	const std::optional<host::FileId> id = dir.identity("lock");
	if (!id)
		return false; // deleted as we took it: take the new one next time
	lock_ = std::move(fd);
	lockId_ = *id;
	log(LogLevel::Info, "holding {}/lock: stock +zeroconf clients read our hosts", dir.path());
	return true;
}

std::string ZeroconfCompat::content() const
{
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
	return content.empty() ? local : content;
}

void ZeroconfCompat::refresh()
{
	try {
		const host::SafeDir dir = host::SafeDir::open(distccDir_).subdir("zeroconf");
		// A lock file deleted or replaced no longer keeps a stock browser
		// away: drop ours and take the one distcc would open.
		if (lock_.get() >= 0 && dir.identity("lock") != lockId_) {
			log(LogLevel::Info, "{}/lock was replaced: taking it again", dir.path());
			lock_.reset();
		}
		if (lock_.get() < 0 && !takeLock(dir))
			return;
		std::string text = content();
		if (text == written_ && file_ && dir.identity("hosts") == file_) {
			faults_.succeeded();
			return;
		}
		file_ = dir.replace("hosts", text);
		written_ = std::move(text);
		faults_.succeeded();
	} catch (const host::PathError &e) {
		file_.reset();
		faults_.failed(e);
	}
}

} // namespace dmdns
