"""Namespaces and the bridge of the virtual LAN: the per-run /24, the switch
namespace with its bridge, and each host's network namespace, veth, addresses
and anchor process (which holds the host's mount and UTS namespaces).

Nothing is added to the root namespace: no bridge, no veth, no address, no
route. The hosts have no default route, only the subnet and 224.0.0.0/4, so
no packet leaves them except over the bridge to the other hosts.
"""

import ipaddress
import os
import re
import secrets
import select
import shutil
import socket
import subprocess

from lan_proc import LanError, Skip, sh

TMP_PREFIX = 'dmlan-'      # /tmp/dmlan-TAG-XXXX: all files of one run
NS_PREFIX = 'dml'
SUPERNET = ipaddress.ip_network('10.77.0.0/16')
PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
TOOLS = {  # program -> Debian package
    'ip': 'iproute2', 'nsenter': 'util-linux', 'unshare': 'util-linux',
    'dbus-daemon': 'dbus-daemon', 'avahi-daemon': 'avahi-daemon',
    'avahi-browse': 'avahi-utils', 'avahi-publish': 'avahi-utils',
    'distccd': 'distcc', 'distcc': 'distcc', 'gcc': 'gcc', 'mount': 'mount',
}


def check_environment():
    """Raises Skip with a reason when the LAN cannot be built here."""
    if os.geteuid() != 0:
        raise Skip('virtual-LAN tests need root (network namespaces, bridges, '
                   'bind mounts); run as root')
    missing = sorted({pkg for prog, pkg in TOOLS.items() if not shutil.which(prog, path=PATH)})
    if missing:
        raise Skip(f'missing tools; install: apt-get install {" ".join(missing)}')
    probe = f'{NS_PREFIX}-probe-{os.getpid()}-{secrets.token_hex(2)}'
    r = subprocess.run(['ip', 'netns', 'add', probe], capture_output=True, text=True)
    if r.returncode != 0:
        raise Skip(f'cannot create a network namespace: {r.stderr.strip()}')
    subprocess.run(['ip', 'netns', 'del', probe], capture_output=True)


def netns_pids(ns):
    r = subprocess.run(['ip', 'netns', 'pids', ns], capture_output=True, text=True)
    return {int(x) for x in r.stdout.split()} if r.returncode == 0 else set()


def netns_exists(ns):
    return os.path.exists(f'/run/netns/{ns}')


# ---------------------------------------------------------------- the switch

def pick_subnet():
    """A /24 of SUPERNET no route or address of this machine overlaps and no
    concurrent run holds; returns (subnet, lock). The lock is an abstract
    unix socket to keep open until the LAN is gone."""
    used = []
    for fam in ('-4',):
        r = sh(['ip', fam, 'route', 'show', 'table', 'all'], check=False)
        for tok in r.stdout.split():
            try:
                used.append(ipaddress.ip_network(tok, strict=False))
            except ValueError:
                pass
    r = sh(['ip', '-4', '-o', 'addr'], check=False)
    for m in re.finditer(r'inet (\S+)', r.stdout):
        used.append(ipaddress.ip_interface(m.group(1)).network)
    subnets = list(SUPERNET.subnets(new_prefix=24))
    start = secrets.randbelow(len(subnets))
    for i in range(len(subnets)):
        net = subnets[(start + i) % len(subnets)]
        if any(net.overlaps(u) for u in used if u.prefixlen > 0):
            continue
        # An abstract unix socket (root netns) is the lock: no file to
        # clean up, released by the kernel when this process dies.
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.bind(f'\0distcc-mdns-lan-{net.network_address}')
        except OSError:
            s.close()
            continue
        return net, s
    raise LanError(f'no free /24 in {SUPERNET}')


def ula_subnet(subnet):
    """The unique-local /64 of an IPv6-only LAN whose lock is the IPv4 /24
    `subnet`: fd77:77::N:0/64 for 10.77.N.0/24 (RFC 4193 space, never routed)."""
    return ipaddress.ip_network(f'fd77:77:0:{subnet.network_address.packed[2]:x}::/64')


def create_switch(switch_ns, bridge):
    """The bridge, in a namespace of its own (it must exist already)."""
    sh(['ip', '-n', switch_ns, '-batch', '-'], input='\n'.join([
        'link set lo up',
        f'link add {bridge} type bridge stp_state 0 forward_delay 0 '
        'mcast_snooping 0',
        f'link set {bridge} up',
    ]) + '\n')


# ---------------------------------------------------------------- a host

def plug_host(ns, veth, switch_ns, bridge, ip, prefixlen, ipv6, ifname='eth0', ip6=None,
              link_local=None):
    """Wires the host's namespace `ns` (it must exist already): veth `veth`
    on the bridge, `ifname` inside with ip/prefixlen (none when ip is None:
    an IPv6-only link), and multicast routed out of eth0. Without ipv6, IPv6
    is off in the namespace. With link_local (and ip6, a /64 address), the
    interface's IPv6 addresses are exactly those: fixed rather than made
    from the MAC, and usable at once (no duplicate address detection), so
    that a test knows them before it starts and waits for no DAD."""
    sh(['ip', '-n', switch_ns, 'link', 'add', veth, 'type', 'veth',
        'peer', 'name', ifname, 'netns', ns])
    sh(['ip', '-n', switch_ns, 'link', 'set', veth, 'master', bridge, 'up'])
    if not ipv6:
        sh(['ip', 'netns', 'exec', ns, 'sysctl', '-q', '-w',
            'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1'])
    cmds = ['link set lo up']
    if link_local:
        sh(['ip', 'netns', 'exec', ns, 'sysctl', '-q', '-w',
            f'net.ipv6.conf.{ifname}.accept_dad=0'])
        cmds += [f'link set {ifname} addrgenmode none',
                 f'addr add {link_local}/64 dev {ifname} nodad']
        if ip6:
            cmds.append(f'addr add {ip6}/64 dev {ifname} nodad')
    if ip:
        cmds.append(f'addr add {ip}/{prefixlen} dev {ifname}')
    cmds.append(f'link set {ifname} up')
    if ip and ifname == 'eth0':
        cmds.append('route add 224.0.0.0/4 dev eth0')
    sh(['ip', '-n', ns, '-batch', '-'], input='\n'.join(cmds) + '\n')


def start_anchor(label, ns, rundir, hostname, etc):
    """Starts the host's anchor (`sleep infinity`) in network namespace ns,
    holding a private mount namespace (rundir bind-mounted over /run, and
    etc's hostname and machine-id over /etc/hostname, /etc/machine-id and
    /var/lib/dbus/machine-id) and a UTS namespace (hostname).
    Returns (Popen, pid of the anchor itself)."""
    script = ('set -e; mount --bind "$1" /run; hostname "$2"; '
              'for f in /etc/hostname /etc/machine-id /var/lib/dbus/machine-id; do '
              '  src="$3/$(basename "$f")"; '
              '  if [ -f "$f" ] && [ ! -L "$f" ]; then mount --bind "$src" "$f"; fi; '
              'done; '
              'echo "anchor $$"; exec sleep infinity')
    p = subprocess.Popen(['ip', 'netns', 'exec', ns, 'unshare', '-m', '-u',
                          '--propagation', 'private', 'sh', '-c', script, 'anchor',
                          rundir, hostname, etc],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, start_new_session=True)
    ready, _, _ = select.select([p.stdout], [], [], 10)
    line = p.stdout.readline().decode() if ready else ''
    m = re.match(r'anchor (\d+)', line)
    if not m:
        p.kill()
        err = p.stderr.read().decode(errors='replace') if p.poll() is not None else ''
        raise LanError(f'{label}: anchor did not start: {line!r} {err}')
    p.stdout.close()
    p.stderr.close()
    return p, int(m.group(1))


def tcp_sockets(anchor_pid):
    """(local port, state) of every TCP socket of the anchor's network
    namespace, read from /proc/ANCHOR/net (no process spawned)."""
    rows = []
    for fn in ('tcp', 'tcp6'):
        try:
            with open(f'/proc/{anchor_pid}/net/{fn}') as f:
                next(f)
                for line in f:
                    x = line.split()
                    rows.append((int(x[1].rsplit(':', 1)[1], 16), x[3]))
        except OSError:
            pass
    return rows
