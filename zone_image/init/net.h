/* Network setup in the zone over rtnetlink: lo, then NET_IF, NET_ADDR, NET_ROUTE records. */
#ifndef EDERA_NET_H
#define EDERA_NET_H

#include "config.h"

/* Bring lo up and apply the network records. 0, or -1 with err. */
int net_setup(const struct container_cfg *c, char err[ERR_MAX]);

/* Parse "address/prefix" (IPv4 or IPv6; no prefix = host route). Returns the address family
 * (AF_INET, AF_INET6) with addr (16 bytes) and *prefix filled, or -1. */
int parse_cidr(const char *s, unsigned char addr[16], int *prefix);

/* Parse "aa:bb:cc:dd:ee:ff". 0 or -1. */
int parse_mac(const char *s, unsigned char mac[6]);

#endif
