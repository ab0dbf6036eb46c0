// Whether terminfo knows this terminal (hosts/terminfo.h).
#include "hosts/terminfo.h"

#include <curses.h>
#include <term.h>

namespace dmdns::top {

bool knownTerminal(int fd)
{
	int error = 0;
	if (setupterm(nullptr, fd, &error) != OK)
		return false;
	del_curterm(cur_term);
	return true;
}

} // namespace dmdns::top
