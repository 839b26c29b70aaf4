#!/usr/bin/env bash
# Builds (up) or removes (down) four network namespaces: a home behind carrier-grade NAT, with no IPv6
# (mode `cgnat`, the default), the same home with a public WAN address behind a plain ISP router (`public`),
# or behind carrier-grade NAT for IPv4 with native, routed IPv6 (`cgnat6`, as DS-Lite and most mobile lines).
#   <p>lan : the worker node's host, 10.200.0.2/24, default route via the home router; IPv6 off
#            (`cgnat6`: also 2e00:200::2/64, default route via the home router)
#   <p>gw  : the home router, lan0 10.200.0.1/24, wan0 100.64.0.2/24 (a CGNAT address; `public`: 11.0.1.2/24),
#            masquerade, miniupnpd (`cgnat6`: also lan0 2e00:200::1/64, wan0 2e00:64::2/64, IPv6 firewall
#            closed inbound but for the pinholes miniupnpd opens)
#   <p>cgn : the carrier's NAT, in0 100.64.0.1/24, out0 11.0.0.1/24, masquerade, nothing forwarded inbound
#            (`public`: a plain router, in0 11.0.1.1/24, forwarding both ways, no NAT; `cgnat6`: also routes
#            IPv6 both ways, in0 2e00:64::1/64, out0 2e00:11::1/64, without NAT or filter)
#   <p>wan : "the internet", 11.0.0.2/24 (`cgnat6`: also 2e00:11::2/64): the directory, the relay node, the consumer
# The 100.64/10 and 11.0.0.0/24 addresses and the 2e00::/16 prefixes (global unicast, unallocated by IANA, so
# they name nobody's hosts) exist only inside these namespaces; none has a link or a route to the host's
# network. miniupnpd itself is started by the test (so it owns the pid); `up` writes its config.
#
# usage: cgnat-netns.sh up <prefix> <workdir> [cgnat|public|cgnat6]
#        cgnat-netns.sh down <prefix>
set -euo pipefail

cmd=${1:?up|down}
p=${2:?prefix}
lan="${p}lan"
gw="${p}gw"
cgn="${p}cgn"
wan="${p}wan"

down() {
  for ns in "$lan" "$gw" "$cgn" "$wan"; do
    if ip netns list | grep -qw "$ns"; then
      # Only processes inside our own, uniquely named namespaces (ones this test started).
      for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
      ip netns del "$ns" 2>/dev/null || true
    fi
  done
}

if [ "$cmd" = down ]; then
  down
  exit 0
fi

work=${3:?workdir}
mode=${4:-cgnat}
if [ "$mode" = public ]; then gw_wan=11.0.1.2; cgn_in=11.0.1.1; else gw_wan=100.64.0.2; cgn_in=100.64.0.1; fi
trap 'down' ERR

for ns in "$lan" "$gw" "$cgn" "$wan"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
ip link add lan0 netns "$gw" type veth peer name eth0 netns "$lan"
ip link add wan0 netns "$gw" type veth peer name in0 netns "$cgn"
ip link add out0 netns "$cgn" type veth peer name eth0 netns "$wan"

if [ "$mode" != cgnat6 ]; then
  # No IPv6 anywhere on the customer side: tier 1b/1c must not be possible.
  ip netns exec "$lan" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
  ip netns exec "$lan" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
fi

ip -n "$lan" addr add 10.200.0.2/24 dev eth0
ip -n "$gw" addr add 10.200.0.1/24 dev lan0
ip -n "$gw" addr add "$gw_wan/24" dev wan0
ip -n "$cgn" addr add "$cgn_in/24" dev in0
ip -n "$cgn" addr add 11.0.0.1/24 dev out0
ip -n "$wan" addr add 11.0.0.2/24 dev eth0
ip -n "$lan" link set eth0 up
ip -n "$gw" link set lan0 up
ip -n "$gw" link set wan0 up
ip -n "$cgn" link set in0 up
ip -n "$cgn" link set out0 up
ip -n "$wan" link set eth0 up
ip -n "$lan" route add default via 10.200.0.1
ip -n "$gw" route add default via "$cgn_in"
if [ "$mode" = public ]; then ip -n "$wan" route add 11.0.1.0/24 via 11.0.0.1; fi
ip netns exec "$gw" sysctl -qw net.ipv4.ip_forward=1
ip netns exec "$cgn" sysctl -qw net.ipv4.ip_forward=1
if [ "$mode" = cgnat6 ]; then
  ip -n "$lan" addr add 2e00:200::2/64 dev eth0 nodad
  ip -n "$gw" addr add 2e00:200::1/64 dev lan0 nodad
  ip -n "$gw" addr add 2e00:64::2/64 dev wan0 nodad
  ip -n "$cgn" addr add 2e00:64::1/64 dev in0 nodad
  ip -n "$cgn" addr add 2e00:11::1/64 dev out0 nodad
  ip -n "$wan" addr add 2e00:11::2/64 dev eth0 nodad
  # Routes name the test's own prefix only: no namespace gets an IPv6 default route beyond the home router.
  ip -n "$lan" -6 route add default via 2e00:200::1
  ip -n "$gw" -6 route add 2e00:11::/64 via 2e00:64::1
  ip -n "$cgn" -6 route add 2e00:200::/64 via 2e00:64::2
  ip -n "$wan" -6 route add 2e00:200::/64 via 2e00:11::1
  ip -n "$wan" -6 route add 2e00:64::/64 via 2e00:11::1
  ip netns exec "$gw" sysctl -qw net.ipv6.conf.all.forwarding=1
  ip netns exec "$cgn" sysctl -qw net.ipv6.conf.all.forwarding=1
fi

# The carrier: customers out, nothing new in (a plain router in `public` mode).
if [ "$mode" = public ]; then
ip netns exec "$cgn" nft -f - <<'NFT'
table inet isp {
  chain forward {
    type filter hook forward priority 0; policy accept;
  }
}
NFT
else
# IPv4 only: customers out, nothing new in. In `cgnat6` IPv6 is routed both ways untouched; the home router's
# firewall alone decides what reaches the LAN.
if [ "$mode" = cgnat6 ]; then v6rule='meta nfproto ipv6 accept'; else v6rule=''; fi
ip netns exec "$cgn" nft -f - <<NFT
table inet cgnat {
  chain forward {
    type filter hook forward priority 0; policy drop;
    ct state established,related accept
    iifname "in0" oifname "out0" accept
    $v6rule
  }
  chain postrouting {
    type nat hook postrouting priority 100; policy accept;
    meta nfproto ipv4 oifname "out0" masquerade
  }
}
NFT
fi

# The home router: the skeleton miniupnpd's nftables backend expects (Debian's nft_init.sh is broken).
ip netns exec "$gw" nft -f - <<'NFT'
table inet filter {
  chain forward {
    type filter hook forward priority 0; policy drop;
    ct state established,related accept
    iifname "lan0" oifname "wan0" accept
    jump miniupnpd
  }
  chain miniupnpd { }
  chain prerouting {
    type nat hook prerouting priority -100; policy accept;
    jump prerouting_miniupnpd
  }
  chain postrouting {
    type nat hook postrouting priority 100; policy accept;
    jump postrouting_miniupnpd
    meta nfproto ipv4 oifname "wan0" masquerade
  }
  chain prerouting_miniupnpd { }
  chain postrouting_miniupnpd { }
}
NFT

mkdir -p "$work"
# IPv6 pinholes (WANIPv6FirewallControl:1) need the IPv6 WAN interface; no ipv6_listening_ip, which would
# make the HTTP server IPv6-only (toolchain.md §4).
if [ "$mode" = cgnat6 ]; then ext6='ext_ifname6=wan0'; else ext6=''; fi
cat > "$work/miniupnpd.conf" <<CONF
ext_ifname=wan0
$ext6
listening_ip=lan0
http_port=5000
enable_natpmp=yes
enable_upnp=yes
secure_mode=no
system_uptime=yes
lease_file=$work/leases
uuid=5d3cec3a-8cf0-11e0-98ee-001a6bd2d07c
allow 1024-65535 10.200.0.0/24 1024-65535
deny 0-65535 0.0.0.0/0 0-65535
CONF
