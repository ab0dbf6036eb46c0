"""Two subnets joined by a router, for tests of what crosses subnets: two
lan_net.Lan objects (each its own switch namespace, bridge and /24) and a
router host on subnet A with a second interface on B's bridge, forwarding
IPv4 between them and running no avahi-daemon (so no mDNS reflection:
multicast DNS stays on each link, as routers leave it). Each host gets a
route to the other subnet through the router and nothing else, so packets
still never leave the two LANs.

Also: a per-host /etc/resolv.conf (bind-mounted in the host's own mount
namespace) and a dnsmasq (Debian's dnsmasq-base) serving records from a
file, for unicast DNS on the virtual LANs.

    with lan_routed.Routed(2, 1) as net:
        a1, a2 = net.a.hosts[:2]
        b1 = net.b.hosts[0]
        net.router.ip, net.router_b      # the router on A, on B

Built only on the public functions of lan_net, lan_netns and lan_host.
"""

import contextlib
import os
import shutil
import sys

import lan_netns
from lan_net import Lan
from lan_proc import Skip, note, sh, wait_until

DNS_TOOLS = {'dnsmasq': 'dnsmasq-base'}


class Routed:
    """Subnet A (`a`, n_a hosts) and subnet B (`b`, n_b hosts), a router
    between them. The hosts are a1, a2... and b1, b2... (names and host
    names); the router is a host of A named 'router' (its `ip` on A);
    `router_b` is its address on B. Use as a context manager."""

    def __init__(self, n_a, n_b, avahi=True):
        self._stack = contextlib.ExitStack()
        try:
            # Host names a1, a2... and b1, b2...: one name per host across
            # both subnets, as DNS needs.
            names_a = [f'a{i + 1}' for i in range(n_a)]
            names_b = [f'b{i + 1}' for i in range(n_b)]
            self.a = self._stack.enter_context(Lan(n_a, avahi=False, names=names_a,
                                                   hostnames=names_a))
            self.b = self._stack.enter_context(Lan(n_b, avahi=False, names=names_b,
                                                   hostnames=names_b))
            self.router = self.a.add_host('router', avahi=False)
            # The last address of B's /24: clear of the hosts' (.2 upwards).
            self.router_b = str(self.b.subnet.network_address + 254)
            lan_netns.plug_host(self.router.ns, f'r{self.b.tag}', self.b.switch_ns, self.b.bridge,
                                self.router_b, self.b.subnet.prefixlen, self.b.ipv6, ifname='eth1')
            self.router.nics.append('eth1')
            self.router.ips.append(self.router_b)
            sh(['ip', 'netns', 'exec', self.router.ns, 'sysctl', '-q', '-w',
                'net.ipv4.ip_forward=1'])
            for h in self.a.hosts + self.b.hosts:
                if h is not self.router:
                    self.route(h)
            note(f'routed: {self.a.subnet} and {self.b.subnet} joined by {self.router.ns} '
                 f'({self.router.ip}, {self.router_b}), no mDNS reflection')
            if avahi:
                self.a.start_avahi([h for h in self.a.hosts if h is not self.router])
                self.b.start_avahi(self.b.hosts)
        except BaseException:
            self._stack.__exit__(*sys.exc_info())
            raise

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        return self._stack.__exit__(et, ev, tb)

    def route(self, host):
        """Routes host's traffic for the other subnet through the router
        (call it for a host added later)."""
        if host.lan is self.a:
            sh(['ip', '-n', host.ns, 'route', 'add', str(self.b.subnet), 'via', self.router.ip])
        else:
            sh(['ip', '-n', host.ns, 'route', 'add', str(self.a.subnet), 'via', self.router_b])


def check_dns_tools():
    """Raises Skip when dnsmasq is missing."""
    missing = sorted({pkg for prog, pkg in DNS_TOOLS.items()
                      if not shutil.which(prog, path=lan_netns.PATH)})
    if missing:
        raise Skip(f'missing tools; install: apt-get install {" ".join(missing)} (tools/deps)')


def set_resolv_conf(host, nameservers, search=()):
    """Gives host its own /etc/resolv.conf (a file in its directory,
    bind-mounted over /etc/resolv.conf in its mount namespace only). Start
    avahi-daemon after this: it reads the file when it starts."""
    path = os.path.join(host.dir, 'etc', 'resolv.conf')
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.writelines(f'nameserver {ns}\n' for ns in nameservers)
        if search:
            f.write(f'search {" ".join(search)}\n')
    os.chmod(path, 0o644)
    host.run(['mount', '--bind', path, '/etc/resolv.conf'])
    return path


def start_dnsmasq(host, records, listen, name='dnsmasq'):
    """Runs dnsmasq in the foreground on host: authoritative for nothing,
    forwarding nothing (no upstream, no /etc/hosts), answering from the
    dnsmasq options in `records` (text, e.g. tools/dns-sd-records output)
    on the addresses `listen`, logging each query. Returns its Proc once
    it listens on port 53."""
    conf = os.path.join(host.dir, f'{name}.conf')
    with open(conf, 'w') as f:
        f.write(records if records.endswith('\n') else records + '\n')
    argv = ['dnsmasq', '--keep-in-foreground', f'--conf-file={conf}', '--no-resolv', '--no-hosts',
            '--no-poll', '--bind-interfaces', '--pid-file=', '--log-facility=-', '--log-queries',
            '--user=root', '--port=53'] + [f'--listen-address={a}' for a in listen]
    proc = host.spawn(argv, name=name)
    wait_until(lambda: host.listening(53), 10, 0.02, what=f'{host.name}: dnsmasq on port 53',
               watch=(proc,))
    return proc
