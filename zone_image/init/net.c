#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

int parse_mac(const char *s, unsigned char mac[6])
{
	unsigned v[6];
	char tail;
	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
		   &tail) != 6)
		return -1;
	for (int i = 0; i < 6; i++)
		mac[i] = v[i];
	return 0;
}

int parse_cidr(const char *s, unsigned char addr[16], int *prefix)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	if (n >= sizeof host)
		return -1;
	memcpy(host, s, n);
	host[n] = 0;
	int family = strchr(host, ':') ? AF_INET6 : AF_INET;
	int max = family == AF_INET ? 32 : 128;
	memset(addr, 0, 16);
	if (inet_pton(family, host, addr) != 1)
		return -1;
	*prefix = max;
	if (slash) {
		char *end;
		long p = strtol(slash + 1, &end, 10);
		if (!slash[1] || *end || p < 0 || p > max)
			return -1;
		*prefix = (int)p;
	}
	return family;
}

/* One request at a time, each acknowledged: the zone configures a handful of objects. */
struct nlreq {
	struct nlmsghdr h;
	char body[512];
};

static void *nl_start(struct nlreq *r, uint16_t type, uint16_t flags, size_t hdrlen)
{
	memset(r, 0, sizeof *r);
	r->h.nlmsg_len = NLMSG_LENGTH(hdrlen);
	r->h.nlmsg_type = type;
	r->h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	return NLMSG_DATA(&r->h);
}

static void nl_attr(struct nlreq *r, uint16_t type, const void *data, size_t len)
{
	/* Callers add a few small attributes; the body has room for all of them. */
	if (NLMSG_ALIGN(r->h.nlmsg_len) + RTA_SPACE(len) > sizeof *r)
		return;
	struct rtattr *a = (struct rtattr *)((char *)r + NLMSG_ALIGN(r->h.nlmsg_len));
	a->rta_type = type;
	a->rta_len = RTA_LENGTH(len);
	memcpy(RTA_DATA(a), data, len);
	r->h.nlmsg_len = NLMSG_ALIGN(r->h.nlmsg_len) + RTA_ALIGN(a->rta_len);
}

/* Send and wait for the ack; returns 0 or a negative errno. */
static int nl_talk(struct nlreq *r)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	int rc = -EIO;
	r->h.nlmsg_seq = 1;
	if (sendto(fd, r, r->h.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof sa) < 0) {
		rc = -errno;
		goto out;
	}
	for (;;) {
		char buf[4096];
		ssize_t n = recv(fd, buf, sizeof buf, 0);
		if (n < 0) {
			rc = -errno;
			goto out;
		}
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n);
		     h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_type == NLMSG_ERROR) {
				rc = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
				goto out;
			}
		}
	}
out:
	close(fd);
	return rc;
}

static int link_set(int index, const char *name, const unsigned char *mac, unsigned mtu, bool up)
{
	struct nlreq r;
	struct ifinfomsg *ifi = nl_start(&r, RTM_NEWLINK, 0, sizeof *ifi);
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = index;
	if (up) {
		ifi->ifi_flags = IFF_UP;
		ifi->ifi_change = IFF_UP;
	}
	if (name)
		nl_attr(&r, IFLA_IFNAME, name, strlen(name) + 1);
	if (mac)
		nl_attr(&r, IFLA_ADDRESS, mac, 6);
	if (mtu)
		nl_attr(&r, IFLA_MTU, &mtu, sizeof mtu);
	return nl_talk(&r);
}

/* The interface's MAC through an ioctl (not /sys, which shows the mounter's namespace). */
static bool has_mac(const char *ifname, const unsigned char mac[6])
{
	struct ifreq ifr = {0};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", ifname);
	bool same = ioctl(fd, SIOCGIFHWADDR, &ifr) == 0 && !memcmp(ifr.ifr_hwaddr.sa_data, mac, 6);
	close(fd);
	return same;
}

/* The zone's NIC for the i-th NET_IF: the one that already has the MAC (set by the host in the
 * vif config), else eth<i>. netfront probes asynchronously, so wait for it a little. */
static int find_if(const unsigned char *mac, size_t i, char found[IF_NAMESIZE], bool *by_mac)
{
	uint64_t end = now_ms() + 5000;
	*by_mac = false;
	do {
		struct if_nameindex *ifs = if_nameindex();
		for (struct if_nameindex *p = ifs; mac && p && p->if_index; p++) {
			if (has_mac(p->if_name, mac)) {
				snprintf(found, IF_NAMESIZE, "%s", p->if_name);
				*by_mac = true;
				int index = (int)p->if_index;
				if_freenameindex(ifs);
				return index;
			}
		}
		if (ifs)
			if_freenameindex(ifs);
		snprintf(found, IF_NAMESIZE, "eth%u", (unsigned)(i % 1000));
		int index = (int)if_nametoindex(found);
		if (index)
			return index;
		usleep(20000);
	} while (now_ms() < end);
	return 0;
}

static int setup_if(const struct net_if_cfg *cfg, size_t i, char err[ERR_MAX])
{
	unsigned char mac[6];
	char cur[IF_NAMESIZE];
	if (cfg->mac[0] && parse_mac(cfg->mac, mac) < 0)
		return errf(err, "NET_IF %s: bad MAC %s", cfg->name, cfg->mac);
	if (strlen(cfg->name) >= IF_NAMESIZE || !cfg->name[0])
		return errf(err, "NET_IF: bad interface name \"%s\"", cfg->name);
	bool by_mac;
	int index = find_if(cfg->mac[0] ? mac : NULL, i, cur, &by_mac);
	if (!index)
		return errf(err, "NET_IF %s: no interface with MAC %s and no eth%zu", cfg->name,
			    cfg->mac[0] ? cfg->mac : "-", i);
	/* Rename and MAC changes need the link down, so bring it up in a second request. The MAC
	 * is only set when it differs: not every driver can change it. */
	int rc = link_set(index, strcmp(cur, cfg->name) ? cfg->name : NULL,
			  cfg->mac[0] && !by_mac ? mac : NULL, cfg->mtu, false);
	if (!rc)
		rc = link_set(index, NULL, NULL, 0, true);
	if (rc)
		return errf(err, "NET_IF %s (was %s): %s", cfg->name, cur, strerror(-rc));
	return 0;
}

static int ifindex(const char *name, const char *what, char err[ERR_MAX])
{
	int index = (int)if_nametoindex(name);
	if (!index)
		errf(err, "%s: no interface %s", what, name);
	return index;
}

static int add_addr(const struct net_addr_cfg *a, char err[ERR_MAX])
{
	unsigned char addr[16];
	int prefix;
	int family = parse_cidr(a->addr, addr, &prefix);
	if (family < 0)
		return errf(err, "NET_ADDR %s: bad address %s", a->ifname, a->addr);
	int index = ifindex(a->ifname, "NET_ADDR", err);
	if (!index)
		return -1;
	struct nlreq r;
	struct ifaddrmsg *ifa = nl_start(&r, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, sizeof *ifa);
	ifa->ifa_family = family;
	ifa->ifa_prefixlen = prefix;
	ifa->ifa_index = index;
	/* No duplicate address detection: the address is usable at once, and the host owns it. */
	ifa->ifa_flags = IFA_F_NODAD;
	size_t len = family == AF_INET ? 4 : 16;
	if (family == AF_INET)
		nl_attr(&r, IFA_LOCAL, addr, len);
	nl_attr(&r, IFA_ADDRESS, addr, len);
	int rc = nl_talk(&r);
	if (rc)
		return errf(err, "NET_ADDR %s %s: %s", a->ifname, a->addr, strerror(-rc));
	return 0;
}

static int add_route(const struct net_route_cfg *rt, char err[ERR_MAX])
{
	unsigned char dst[16], gw[16];
	int prefix, gwprefix;
	int family = parse_cidr(rt->dst, dst, &prefix);
	if (family < 0)
		return errf(err, "NET_ROUTE %s: bad destination %s", rt->ifname, rt->dst);
	if (rt->gw[0] && parse_cidr(rt->gw, gw, &gwprefix) != family)
		return errf(err, "NET_ROUTE %s: bad gateway %s", rt->ifname, rt->gw);
	int index = ifindex(rt->ifname, "NET_ROUTE", err);
	if (!index)
		return -1;
	struct nlreq r;
	struct rtmsg *rm = nl_start(&r, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, sizeof *rm);
	rm->rtm_family = family;
	rm->rtm_dst_len = prefix;
	rm->rtm_table = RT_TABLE_MAIN;
	rm->rtm_protocol = RTPROT_BOOT;
	rm->rtm_scope = rt->gw[0] ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
	rm->rtm_type = RTN_UNICAST;
	size_t len = family == AF_INET ? 4 : 16;
	if (prefix)
		nl_attr(&r, RTA_DST, dst, len);
	if (rt->gw[0])
		nl_attr(&r, RTA_GATEWAY, gw, len);
	uint32_t oif = index;
	nl_attr(&r, RTA_OIF, &oif, sizeof oif);
	int rc = nl_talk(&r);
	if (rc)
		return errf(err, "NET_ROUTE %s %s via %s: %s", rt->ifname, rt->dst,
			    rt->gw[0] ? rt->gw : "-", strerror(-rc));
	return 0;
}

int net_setup(const struct container_cfg *c, char err[ERR_MAX])
{
	int lo = ifindex("lo", "lo", err);
	if (!lo)
		return -1;
	int rc = link_set(lo, NULL, NULL, 0, true);
	if (rc)
		return errf(err, "bring lo up: %s", strerror(-rc));
	/* Links first, then addresses, then routes: a gateway must be reachable when added. */
	for (size_t i = 0; i < c->nifs; i++)
		if (setup_if(&c->ifs[i], i, err) < 0)
			return -1;
	for (size_t i = 0; i < c->naddrs; i++)
		if (add_addr(&c->addrs[i], err) < 0)
			return -1;
	for (size_t i = 0; i < c->nroutes; i++)
		if (add_route(&c->routes[i], err) < 0)
			return -1;
	return 0;
}
